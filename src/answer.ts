import { CitationFilter } from './citations.js';
import type { SearchResult, UpstreamEvent } from './upstream/types.js';

/** One piece of the answer as OpenAI clients receive it. */
export interface Delta {
  content?: string;
  reasoning_content?: string;
}

/** Where the model's reasoning goes: its own field, inline `<think>` tags, or nowhere. */
export type ReasoningOutput = 'field' | 'think-tags' | 'hidden';

const WIDE = /[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff]/g;

/**
 * Rough token count (the upstream reports none): CJK characters count one each, other text about
 * four characters a token. Fed piece by piece as the answer streams.
 */
export class TokenCounter {
  private wide = 0;
  private narrow = 0;

  add(text: string): void {
    const w = text.match(WIDE)?.length ?? 0;
    this.wide += w;
    this.narrow += text.length - w;
  }

  get tokens(): number {
    return this.wide + Math.ceil(this.narrow / 4);
  }
}

/** Token estimate of a whole text. */
export function estimateTokens(text: string): number {
  const counter = new TokenCounter();
  counter.add(text);
  return counter.tokens;
}

/** The appended list of web sources, numbered as the answer's `[n]` references. */
export function formatSources(results: SearchResult[]): string {
  const lines = results.map((r, i) => `[${i + 1}] ${r.title} – ${r.url}`);
  return `\n\nSources:\n${lines.join('\n')}`;
}

/**
 * Turns upstream events into client deltas: numbers or strips citation markers, routes reasoning
 * as `reasoningOutput` says (never in the same delta as content), and appends the sources when
 * the upstream searched the web.
 */
export async function* translateEvents(
  events: AsyncIterable<UpstreamEvent>,
  counter: TokenCounter,
  reasoningOutput: ReasoningOutput = 'field',
): AsyncGenerator<Delta> {
  const sources = new Map<string, SearchResult>();
  const filter = new CitationFilter(() => sources.size);
  let thinking = false; // inside an open <think> block (think-tags mode)
  const content = (text: string): Delta => {
    counter.add(text);
    return { content: text };
  };

  for await (const ev of events) {
    if (ev.type === 'text') {
      let text = filter.push(ev.text);
      if (thinking && text) {
        thinking = false;
        text = `\n</think>\n\n${text}`;
      }
      if (text) yield content(text);
    } else if (ev.type === 'reasoning') {
      if (reasoningOutput === 'hidden' || !ev.text) continue;
      if (reasoningOutput === 'field') {
        counter.add(ev.text);
        yield { reasoning_content: ev.text };
      } else {
        yield content(thinking ? ev.text : `<think>\n${ev.text}`);
        thinking = true;
      }
    } else if (ev.type === 'search') {
      for (const r of ev.results) if (!sources.has(r.url)) sources.set(r.url, r);
    }
  }
  let tail = filter.flush();
  if (thinking) tail = `\n</think>\n\n${tail}`;
  if (sources.size > 0) tail += formatSources([...sources.values()]);
  if (tail) yield content(tail);
}

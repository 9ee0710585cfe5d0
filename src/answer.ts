import { CitationFilter } from './citations.js';
import type { SearchResult, UpstreamEvent } from './upstream/types.js';

/** One piece of the answer as OpenAI clients receive it. */
export interface Delta {
  content?: string;
  reasoning_content?: string;
}

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

/** The appended list of web sources, numbered in the order StepChat returned them. */
export function formatSources(results: SearchResult[]): string {
  const lines = results.map((r, i) => `[${i + 1}] ${r.title} – ${r.url}`);
  return `\n\nSources:\n${lines.join('\n')}`;
}

/**
 * Turns upstream events into client deltas: strips citation markers, keeps reasoning apart from
 * content, and appends the sources when the upstream searched the web.
 */
export async function* translateEvents(events: AsyncIterable<UpstreamEvent>, counter: TokenCounter): AsyncGenerator<Delta> {
  const filter = new CitationFilter();
  const sources = new Map<string, SearchResult>();
  for await (const ev of events) {
    if (ev.type === 'text') {
      const content = filter.push(ev.text);
      if (content) {
        counter.add(content);
        yield { content };
      }
    } else if (ev.type === 'reasoning') {
      if (ev.text) {
        counter.add(ev.text);
        yield { reasoning_content: ev.text };
      }
    } else if (ev.type === 'search') {
      for (const r of ev.results) if (!sources.has(r.url)) sources.set(r.url, r);
    }
  }
  let tail = filter.flush();
  if (sources.size > 0) tail += formatSources([...sources.values()]);
  if (tail) {
    counter.add(tail);
    yield { content: tail };
  }
}

import { CitationFilter } from './citations.js';
import type { SearchResult, UpstreamEvent } from '../upstream/types.js';

/** A piece of one tool call in OpenAI's streaming shape: the first of each `index` has `id`, `type` and the name. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

/** One piece of the answer as OpenAI clients receive it. */
export interface Delta {
  content?: string;
  reasoning_content?: string;
  tool_calls?: ToolCallDelta[];
  /** Legacy function calling (`functions` in the request). */
  function_call?: { name?: string; arguments: string };
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
 * the upstream searched the web. Synchronous, so a whole batch of events costs no extra awaits.
 */
export class AnswerTranslator {
  private readonly sources = new Map<string, SearchResult>();
  private readonly filter = new CitationFilter(() => this.sources.size);
  /** Inside an open <think> block (think-tags mode). */
  private thinking = false;

  constructor(
    private readonly counter: TokenCounter,
    private readonly reasoningOutput: ReasoningOutput = 'field',
  ) {}

  private content(out: Delta[], text: string): void {
    this.counter.add(text);
    out.push({ content: text });
  }

  /** Appends the deltas for one event to `out`. */
  push(ev: UpstreamEvent, out: Delta[]): void {
    if (ev.type === 'text') {
      let text = this.filter.push(ev.text);
      if (this.thinking && text) {
        this.thinking = false;
        text = `\n</think>\n\n${text}`;
      }
      if (text) this.content(out, text);
    } else if (ev.type === 'reasoning') {
      if (this.reasoningOutput === 'hidden' || !ev.text) return;
      if (this.reasoningOutput === 'field') {
        this.counter.add(ev.text);
        out.push({ reasoning_content: ev.text });
      } else {
        this.content(out, this.thinking ? ev.text : `<think>\n${ev.text}`);
        this.thinking = true;
      }
    } else if (ev.type === 'search') {
      for (const r of ev.results) if (!this.sources.has(r.url)) this.sources.set(r.url, r);
    }
  }

  /** Appends what ends the answer: held-back text, a closing tag, the sources. */
  finish(out: Delta[]): void {
    let tail = this.filter.flush();
    if (this.thinking) tail = `\n</think>\n\n${tail}`;
    if (this.sources.size > 0) tail += formatSources([...this.sources.values()]);
    if (tail) this.content(out, tail);
  }
}

/** Client deltas for a stream of upstream event batches, a batch at a time. */
export async function* translateEvents(
  batches: AsyncIterable<UpstreamEvent[]>,
  counter: TokenCounter,
  reasoningOutput: ReasoningOutput = 'field',
  /** Called when the upstream withheld the answer (finish_reason content_filter). */
  onFiltered?: () => void,
): AsyncGenerator<Delta[]> {
  const translator = new AnswerTranslator(counter, reasoningOutput);
  for await (const batch of batches) {
    const out: Delta[] = [];
    for (const ev of batch) {
      if (ev.type === 'filtered') onFiltered?.();
      else translator.push(ev, out);
    }
    if (out.length > 0) yield out;
  }
  const out: Delta[] = [];
  translator.finish(out);
  if (out.length > 0) yield out;
}

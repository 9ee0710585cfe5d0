import { createHash } from 'node:crypto';
import { answerFor, searchResultsFor } from './answer.js';
import { parseDirectives } from './directives.js';

// What a capy ChatStream says, computed from the prompt alone so tests can
// predict every frame. The answer reuses answerFor so both dialects stream the
// same text for the same prompt.

/** A capy web-search source: the legacy fields plus `site` and `faviconUrl`. */
export interface CapySearchResult {
  url: string;
  title: string;
  snippet: string;
  site: string;
  faviconUrl: string;
}

/** Options of {@link capyAnswerFor}. */
export interface CapyAnswerOptions {
  /** `config.enableSearch`; `#search` in the text switches search on as well. */
  search?: boolean;
  /** Frame count when the text has no `#len:N`; default 20 like the emulator's. */
  frames?: number;
  /** The chat's texts so far (this one last), for directives that act on a later turn. */
  context?: readonly string[];
}

/** Whether a capy message searches: by config or by the `#search` directive. */
export function capySearchEnabled(text: string, configSearch: boolean): boolean {
  return configSearch || parseDirectives(text).search;
}

/**
 * The textEvent frames of a capy answer. With search on (config or `#search`)
 * they carry citation markers; the n-th distinct `<web_…>` id refers to the
 * n-th result of {@link capySearchResultsFor}.
 */
export function capyAnswerFor(text: string, opts: CapyAnswerOptions = {}): string[] {
  return answerFor(text, opts.frames ?? 20, capySearchEnabled(text, opts.search ?? false), opts.context);
}

/** The search results of a capy answer, in citation order. */
export function capySearchResultsFor(text: string): CapySearchResult[] {
  return searchResultsFor(text).map((r) => {
    const { hostname, origin } = new URL(r.url);
    return { url: r.url, title: r.title, snippet: r.snippet, site: hostname, faviconUrl: `${origin}/favicon.ico` };
  });
}

// Multi-byte on purpose (Chinese, emoji with surrogate pairs) so that reasoning
// frames split inside characters under fragmentation, like answer frames do.
const THOUGHTS = ['让我想想', '用户问的是', 'considering 🤔', '先分析一下', 'then 🧠 answer', '结论是'] as const;

/** The reasoningEvent frames for a prompt: five, deterministic, tagged with the prompt's hash. */
export function reasoningFor(text: string): string[] {
  const hash = createHash('sha256').update(text).digest('hex');
  return Array.from({ length: 5 }, (_, i) => {
    const pick = parseInt(hash.slice(i * 2, i * 2 + 2), 16) % THOUGHTS.length;
    return `${i === 0 ? `{${hash.slice(0, 6)}} ` : ' '}${THOUGHTS[pick] ?? ''} 步骤${i + 1}`;
  });
}

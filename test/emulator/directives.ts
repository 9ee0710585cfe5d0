// Directives ride in the prompt text rather than in emulator state so that
// concurrent tests sharing one emulator cannot disturb each other.

/** Faults a prompt can ask for with `#fault:<name>`. */
export type Fault = 'error-event' | 'error-trailer' | 'reset' | 'slow' | 'stall' | '401' | 'risk' | 'trickle-503' | 'heartbeats';

const FAULTS: readonly Fault[] = ['error-event', 'error-trailer', 'reset', 'slow', 'stall', '401', 'risk', 'trickle-503', 'heartbeats'];

/** What a prompt asks of the emulator. */
export interface Directives {
  faults: Set<Fault>;
  /** `#slow:<ms>`: wait before answering (implies the slow fault). */
  slowMs: number | undefined;
  /** `#delay:<ms>`: delay between frames. */
  delayMs: number | undefined;
  /** `#len:<n>`: number of answer frames. */
  len: number | undefined;
  /** `#search`: emit search results and citation markers. */
  search: boolean;
  /** `#sourcing`: the search results come as a `sourcingEvent` instead of a search `pipelineEvent`. */
  sourcing: boolean;
  /** `#drift`: event kinds and fields no client knows yet ({@link DRIFT_EVENTS}, extra textEvent fields). */
  drift: boolean;
}

/** The unknown event kinds `#drift` sends, each twice. */
export const DRIFT_EVENTS = ['futureEvent', 'shinyNewEvent'] as const;

function numberAfter(text: string, name: string): number | undefined {
  const match = new RegExp(`#${name}:(\\d+)`).exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Reads the `#fault:…`, `#slow:…`, `#delay:…`, `#len:…` and `#search` directives of a prompt. */
export function parseDirectives(text: string): Directives {
  const faults = new Set<Fault>();
  for (const match of text.matchAll(/#fault:([\w-]+)/g)) {
    const name = match[1] as Fault;
    if (FAULTS.includes(name)) faults.add(name);
  }
  const slowMs = numberAfter(text, 'slow');
  if (slowMs !== undefined) faults.add('slow');
  return {
    faults,
    slowMs,
    delayMs: numberAfter(text, 'delay'),
    len: numberAfter(text, 'len'),
    search: /#search\b/.test(text),
    sourcing: /#sourcing\b/.test(text),
    drift: /#drift\b/.test(text),
  };
}

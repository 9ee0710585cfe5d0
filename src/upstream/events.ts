import { FLAG_END_STREAM, type Envelope } from './connect-codec.js';
import { brief, ContextLengthError, TokenRejectedError, UpstreamAuthError, UpstreamError } from '../errors.js';
import type { SearchResult, UpstreamEvent } from './types.js';

/** One decoded upstream stream message, shaped as the dialect says. */
export type UpstreamMessage = Record<string, any>;

/** What one upstream message means: an event for the client, the end, or nothing. */
export type Mapped = UpstreamEvent | 'done' | undefined;

/**
 * Reads a Connect stream of StepChat messages: `mapMessage` translates each message of the
 * dialect; the end-of-stream trailer ends it (or fails it), and a stream that stops without one
 * fails unless the dialect's own done event was seen. Events come out a batch per network read.
 */
export async function* readEventStream(
  batches: AsyncIterable<Envelope[]>,
  what: string,
  mapMessage: (msg: UpstreamMessage) => Mapped,
  /** The session's credentials, scrubbed from the upstream's error messages. */
  secrets: string[] = [],
): AsyncGenerator<UpstreamEvent[]> {
  let events = 0;
  let sawDone = false;
  let ended = false;
  for await (const batch of batches) {
    // After the trailer the body is read on to its end rather than abandoned: leaving the loop
    // early would destroy the response and with it a keep-alive upstream connection.
    if (ended) continue;
    const out: UpstreamEvent[] = [];
    // An error goes after the events before it, also when both came in one batch: how the reads
    // fell (or a feed that gathers them) must not decide whether the answer had started.
    let failure: unknown;
    for (const { flags, data } of batch) {
      const msg = (data ?? {}) as UpstreamMessage;
      if (flags & FLAG_END_STREAM) {
        if (msg.error) failure = streamError(what, msg.error, events === 0, secrets);
        else {
          ended = true;
          out.push({ type: 'done' });
        }
        break;
      }
      events++;
      if (msg.error) {
        failure = streamError(what, msg.error, false, secrets);
        break;
      }
      let mapped: Mapped;
      try {
        mapped = mapMessage(msg);
      } catch (err) {
        failure = err;
        break;
      }
      if (mapped === 'done') sawDone = true;
      else if (mapped) out.push(mapped);
    }
    if (out.length > 0) yield out;
    if (failure !== undefined) throw failure;
  }
  if (ended) return;
  // Tolerate a server that ends after its done event without the Connect trailer.
  if (sawDone) {
    yield [{ type: 'done' }];
    return;
  }
  throw new UpstreamError(`${what} ended without an end-of-stream trailer`);
}

function streamError(what: string, error: { code?: unknown; message?: unknown }, beforeAnyEvent: boolean, secrets: string[]): Error {
  const detail = `${what} ${brief(error.code ?? 'error', 40, secrets)}: ${brief(error.message ?? '', 200, secrets)}`;
  // Only an auth failure before anything was streamed is worth a refresh and retry.
  if (isPromptTooLong(error.code, error.message)) return new ContextLengthError(brief(error.message ?? '', 200, secrets));
  const account = accountProblem(error);
  if (account) return new TokenRejectedError(account);
  if (beforeAnyEvent && error.code === 'unauthenticated') return new UpstreamAuthError(detail);
  return Object.assign(new UpstreamError(detail), { upstreamCode: typeof error.code === 'string' ? error.code : undefined });
}

/** A text event, unless the text is empty. */
export function textEvent(type: 'text' | 'reasoning', text: unknown): Mapped {
  return typeof text === 'string' && text !== '' ? { type, text } : undefined;
}

/** Normalizes search results from either dialect; entries without a URL are dropped. */
export function searchEvent(raw: unknown): Mapped {
  if (!Array.isArray(raw)) return undefined;
  const results: SearchResult[] = [];
  for (const r of raw) {
    if (!r || typeof r.url !== 'string' || r.url === '') continue;
    results.push({ url: r.url, title: typeof r.title === 'string' && r.title ? r.title : r.url, snippet: typeof r.snippet === 'string' ? r.snippet : undefined });
  }
  return results.length > 0 ? { type: 'search', results } : undefined;
}

/** `invalid_argument … prompt exceed max len N`: the message is too long for the upstream. */
export function isPromptTooLong(code: unknown, message: unknown): boolean {
  return code === 'invalid_argument' && typeof message === 'string' && /prompt exceed max len/i.test(message);
}

/** Upstream codes (`details[].debug.code`) that mean the account itself is unusable, with what to tell the user. */
const ACCOUNT_CODES: Record<string, string> = {
  CODE_ACCOUNT_NEED_SIGN_IN: 'the account is signed out upstream (CODE_ACCOUNT_NEED_SIGN_IN): sign in to the web app again and copy a new token',
};

/** What is wrong with the account when a Connect error's details say so; undefined otherwise. */
export function accountProblem(error: unknown): string | undefined {
  const details = (error as { details?: unknown } | undefined)?.details;
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    const code = (d as { debug?: { code?: unknown } } | undefined)?.debug?.code;
    if (typeof code === 'string' && ACCOUNT_CODES[code]) return ACCOUNT_CODES[code];
  }
  return undefined;
}

/** The source list of a `sourcingEvent`, whichever of the names public clients saw carries it. */
export function sourcesOf(event: unknown): unknown {
  if (!event || typeof event !== 'object') return undefined;
  const e = event as Record<string, unknown>;
  return [e.sources, e.results, e.items, e.references].find(Array.isArray);
}

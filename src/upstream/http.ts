import type { Dispatcher } from 'undici';
import { Agent, errors as undiciErrors } from './undici-core.js';
import { encodeEnvelope, EnvelopeError, type Envelope } from './connect-codec.js';
import { DeadlineError } from './dispatch-handler.js';
import { EnvelopeFeed } from './envelope-feed.js';
import { ReplyCollector, type CollectedReply } from './reply-collector.js';
import { accountProblem, isPromptTooLong } from './events.js';
import { headerSecrets } from '../scrub.js';
import { brief, ClientGoneError, ContextLengthError, TokenRejectedError, UpstreamAuthError, UpstreamError, UpstreamRateLimitError, UpstreamTimeoutError } from '../errors.js';

export interface HttpOptions {
  baseUrl: string;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Total time a unary call or an answer stream may take, however steadily it trickles; 0 = none. */
  answerTimeoutMs?: number;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Turns any failure of an upstream call into one of the domain errors. */
export function upstreamFailure(err: unknown, what: string, signal?: AbortSignal): Error {
  if (signal?.aborted) return new ClientGoneError();
  const e = err as Error & { code?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('STEP_')) return e;
  if (e?.code && TIMEOUT_CODES.has(e.code)) return new UpstreamTimeoutError(what);
  if (e instanceof DeadlineError) return new UpstreamTimeoutError(`${what}: ${e.message}`);
  if (e instanceof EnvelopeError) return new UpstreamError(`${what}: ${e.message}`);
  if (e instanceof undiciErrors.UndiciError || e?.code) return new UpstreamError(`${what}: ${e.code ?? e.name} ${brief(e.message, 80)}`);
  return new UpstreamError(`${what}: ${brief(e?.message ?? e, 120)}`);
}

/** The HTTP status of the upstream reply an error came from, when it came from one. */
export function upstreamStatus(err: unknown): number | undefined {
  const status = (err as { upstreamStatus?: unknown } | undefined)?.upstreamStatus;
  return typeof status === 'number' ? status : undefined;
}

/** A reply that says the call is gone or broken (404, 5xx), not that the account or request is wrong. */
export function isAuxiliaryFailure(err: unknown): boolean {
  const status = upstreamStatus(err);
  return status !== undefined && (status === 404 || status >= 500);
}

/** Maps a Connect error body (`{code, message}`) and its HTTP status to a domain error. */
export function connectFailure(status: number, body: unknown, what: string, secrets: string[] = []): Error {
  return Object.assign(connectError(status, body, what, secrets), { upstreamStatus: status });
}

function connectError(status: number, body: unknown, what: string, secrets: string[]): Error {
  const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
  const detail = `${what} answered ${status}${code ? ` ${brief(code, 40, secrets)}` : ''}${message ? `: ${brief(message, 200, secrets)}` : ''}`;
  if (isPromptTooLong(code, message)) return new ContextLengthError(brief(message, 200, secrets));
  const account = accountProblem(body);
  if (account) return new TokenRejectedError(account);
  if (code === 'unauthenticated' || status === 401) return new UpstreamAuthError(detail);
  if (code === 'deadline_exceeded' || status === 504 || status === 408) return new UpstreamTimeoutError(detail);
  if (code === 'resource_exhausted' || status === 429) return new UpstreamRateLimitError(detail);
  // Kept for account health (src/accounts/health.ts): a 5xx is the account's or service's trouble, a 4xx the request's.
  return Object.assign(new UpstreamError(detail), { upstreamStatus: status, upstreamCode: typeof code === 'string' ? code : undefined });
}

const JSON_TYPE = 'application/json';
const CONNECT_TYPE = 'application/connect+json';
const typed = { [JSON_TYPE]: new WeakMap<object, Record<string, string>>(), [CONNECT_TYPE]: new WeakMap<object, Record<string, string>>() };

/** The headers plus a content type, built once per header set (a session's serves all its calls). */
function withType(headers: Record<string, string>, type: typeof JSON_TYPE | typeof CONNECT_TYPE): Record<string, string> {
  const cache = typed[type];
  let out = cache.get(headers);
  if (!out) {
    out = { ...headers, 'content-type': type };
    cache.set(headers, out);
  }
  return out;
}

/** A reply body as JSON: empty is `{}`; text that is not JSON fails a 2xx and is the message of an error. */
function parseReply(text: string, status: number, what: string): unknown {
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    if (status >= 200 && status < 300) throw new UpstreamError(`${what}: reply is not JSON`);
    return { message: text };
  }
}

/**
 * The one undici dispatcher every upstream call goes through, with explicit connect, header and
 * body timeouts, and the two Connect call shapes (unary JSON, server-streaming envelopes).
 */
export function createHttp(opts: HttpOptions) {
  const base = new URL(opts.baseUrl);
  const origin = base.origin;
  const prefix = base.pathname.replace(/\/+$/, '');
  const agent = new Agent({
    connect: { timeout: opts.connectTimeoutMs },
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
    keepAliveTimeout: 30_000,
  });

  async function send(options: {
    method?: Dispatcher.HttpMethod;
    path: string;
    headers: Record<string, string>;
    body?: Dispatcher.DispatchOptions['body'];
    signal?: AbortSignal;
    what: string;
  }): Promise<Dispatcher.ResponseData> {
    try {
      return await agent.request({
        origin,
        path: prefix + options.path,
        method: options.method ?? 'POST',
        headers: options.headers,
        body: options.body,
        signal: options.signal,
      });
    } catch (err) {
      throw upstreamFailure(err, options.what, options.signal);
    }
  }

  async function readJson(res: Dispatcher.ResponseData, what: string, signal?: AbortSignal): Promise<unknown> {
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw upstreamFailure(err, what, signal);
    }
    return parseReply(text, res.statusCode, what);
  }

  /** A unary Connect call: JSON in, JSON out; non-2xx becomes a domain error. */
  async function unary<T>(path: string, headers: Record<string, string>, body: unknown, what: string, signal?: AbortSignal): Promise<T> {
    return (await unaryWithCookies<T>(path, headers, body, what, signal)).body;
  }

  /** A unary call whose reply's Set-Cookie lines matter too (the refresh of a session). */
  async function unaryWithCookies<T>(path: string, headers: Record<string, string>, body: unknown, what: string, signal?: AbortSignal): Promise<{ body: T; setCookie: string[] }> {
    if (signal?.aborted) throw new ClientGoneError();
    const reply = new ReplyCollector(signal, opts.answerTimeoutMs);
    agent.dispatch({ origin, path: prefix + path, method: 'POST', headers: withType(headers, JSON_TYPE), body: JSON.stringify(body ?? {}) }, reply);
    let res: CollectedReply;
    try {
      res = await reply.done;
    } catch (err) {
      throw upstreamFailure(err, what, signal);
    }
    const json = parseReply(res.text, res.status, what);
    if (res.status < 200 || res.status >= 300) throw connectFailure(res.status, json, what, headerSecrets(headers));
    return { body: json as T, setCookie: res.setCookie };
  }

  /**
   * A server-streaming Connect call: one request envelope, then the reply's envelopes, a batch per
   * pull (per read while the consumer keeps up; gathered over `gatherMs` if given). Dispatched with a handler that decodes as bytes arrive (see EnvelopeFeed), because this
   * path runs for every network read of every answer.
   */
  async function stream(path: string, headers: Record<string, string>, body: unknown, what: string, signal?: AbortSignal, gatherMs = 0): Promise<AsyncIterableIterator<Envelope[]>> {
    if (signal?.aborted) throw new ClientGoneError();
    const feed = new EnvelopeFeed((err) => upstreamFailure(err, what, signal), signal, opts.answerTimeoutMs, gatherMs);
    agent.dispatch(
      { origin, path: prefix + path, method: 'POST', headers: withType(headers, CONNECT_TYPE), body: encodeEnvelope(body) },
      feed,
    );
    const start = await feed.started;
    if (start.status !== 200) throw connectFailure(start.status, parseReply(start.errorBody ?? '', start.status, what), what, headerSecrets(headers));
    return feed;
  }

  return { unary, unaryWithCookies, stream, send, readJson, origin, close: () => agent.close() };
}

export type Http = ReturnType<typeof createHttp>;

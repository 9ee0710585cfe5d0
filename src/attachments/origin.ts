import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent } from '../upstream/undici-core.js';
import { AttachmentFetchError, AttachmentInvalidError, ClientGoneError } from '../errors.js';
import { guardedConnector, type AddressPolicy } from './address-guard.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const NOT_FOUND = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_NODATA']);

/** An origin's 2xx answer, body unread; `url` is where the redirects ended. */
export interface OriginResponse {
  url: URL;
  headers: IncomingHttpHeaders;
  body: Readable;
}

export interface OriginOptions {
  policy: AddressPolicy;
  timeoutMs: number;
  maxRedirects: number;
}

/** Drops an origin body; undici's bodies emit an error when destroyed unread, which nobody needs. */
export function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Checks the scheme of an attachment URL; only http and https are fetched. */
export function httpUrl(raw: string | URL): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AttachmentInvalidError('an attachment URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AttachmentInvalidError(`attachment URLs must be http, https or data URLs, not ${url.protocol.slice(0, 16)}`);
  }
  return url;
}

/** Turns a failure while talking to an origin into a 400 naming its host (never the query string). */
export function originFailure(err: unknown, host: string, signal: AbortSignal): Error {
  // A signal aborted with a domain error (the fetch deadline) reports that error; else the client left.
  const reason = signal.reason as { code?: unknown } | undefined;
  if (signal.aborted) return typeof reason?.code === 'string' && reason.code.startsWith('STEP_') ? (reason as Error) : new ClientGoneError();
  const e = err as Error & { code?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('STEP_')) return e;
  if (e?.code && TIMEOUTS.has(e.code)) return new AttachmentFetchError(host, 'timed out');
  if (e?.code && NOT_FOUND.has(e.code)) return new AttachmentFetchError(host, 'host not found');
  return new AttachmentFetchError(host, e?.code ? `connection failed (${e.code})` : 'connection failed');
}

/**
 * Fetches attachment origins through a dispatcher of its own: every connection goes through the
 * address guard, redirects are followed by hand (each hop guarded again) up to a limit, and
 * connect, header and body-silence timeouts all come from ATTACHMENT_FETCH_TIMEOUT_MS.
 */
export function createOriginClient(opts: OriginOptions) {
  const agent = new Agent({
    connect: guardedConnector(opts.policy, opts.timeoutMs),
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });

  async function open(start: URL, signal: AbortSignal): Promise<OriginResponse> {
    let url = start;
    for (let hop = 0; ; hop++) {
      let res;
      try {
        res = await agent.request({
          origin: url.origin,
          path: url.pathname + url.search,
          method: 'GET',
          // Identity, so Content-Length is the size of the bytes that get uploaded.
          headers: { accept: '*/*', 'accept-encoding': 'identity', 'user-agent': 'step-gateway attachment fetcher' },
          signal,
        });
      } catch (err) {
        throw originFailure(err, url.host, signal);
      }
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode) && typeof location === 'string') {
        discard(res.body);
        if (hop >= opts.maxRedirects) throw new AttachmentFetchError(url.host, `more than ${opts.maxRedirects} redirects`);
        if (!URL.canParse(location, url.href)) throw new AttachmentFetchError(url.host, 'it redirected to an invalid URL');
        url = httpUrl(new URL(location, url));
        continue;
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        discard(res.body);
        throw new AttachmentFetchError(url.host, `it answered HTTP ${res.statusCode}`);
      }
      return { url, headers: res.headers, body: res.body };
    }
  }

  return { open, close: () => agent.close() };
}

export type OriginClient = ReturnType<typeof createOriginClient>;

import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';

// With the `echoCredentials` option the emulator behaves like an upstream that quotes the
// request's credentials in its error messages (debug builds, proxies, WAF pages do): the gateway
// must never pass those on. The request's Cookie rides in async context, so every error written
// while answering that request (unary bodies, stream events, trailers, HTML pages) can quote it.

const current = new AsyncLocalStorage<string>();

/** Runs `fn` with the request's Cookie header as what error messages echo. */
export function echoing<T>(req: IncomingMessage, fn: () => T): T {
  const cookie = req.headers.cookie ?? '';
  return current.run(cookie, fn);
}

/**
 * `message` plus the credentials of the request being answered: its bare token values first
 * (access and refresh halves), then the whole Cookie header. Unchanged outside `echoing`.
 */
export function withEcho(message: string): string {
  const cookie = current.getStore();
  if (cookie === undefined) return message;
  const values = cookie
    .split(';')
    .map((part) => part.slice(part.indexOf('=') + 1).trim())
    .flatMap((v) => v.split('...'))
    .filter(Boolean);
  return `${message} (tokens ${values.join(' ')}; request cookie: ${cookie})`;
}

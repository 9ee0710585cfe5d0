import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { FILE_FIXTURES, generatedMime, generatedSlice } from './file-fixtures.js';
import { sendJson } from './http-util.js';

// Origins for attachment tests: the gateway fetches these as it would any URL a user sends.

/** Where the file routes live on the emulator. */
export const FILES_PREFIX = '/files/';

const CHUNK = 64 * 1024;

interface Body {
  size: number;
  mime: string;
  slice(from: number, length: number): Buffer;
}

function bodyFor(name: string, bytes: string | null): Body | undefined {
  const fixture = FILE_FIXTURES[name];
  if (fixture) return { size: fixture.bytes.length, mime: fixture.mime, slice: (from, length) => fixture.bytes.subarray(from, from + length) };
  const big = /^big\.(\w+)$/.exec(name);
  const size = Number(bytes ?? 1024 * 1024);
  if (!big || !Number.isSafeInteger(size) || size < 0) return undefined;
  const ext = big[1]!;
  return { size, mime: generatedMime(ext), slice: (from, length) => generatedSlice(ext, from, length) };
}

/** Waits until the response can take more, or is gone. */
async function drained(res: ServerResponse): Promise<void> {
  // The listener of the event that did not happen is removed, or a long file would pile them up.
  const done = new AbortController();
  await Promise.race([once(res, 'drain', { signal: done.signal }), once(res, 'close', { signal: done.signal })]).catch(() => undefined);
  done.abort();
}

/**
 * `GET /files/...`: a fixture by name, `big.<ext>?bytes=N` generated while streaming,
 * `redirect?to=<url>&hops=<n>`, `status/<code>`. Query options on files: `delay=<ms>` before
 * the headers, `chunked` (no Content-Length), `type=<mime>` (empty: no Content-Type),
 * `disposition=<filename>`, `stallAfter=<bytes>` (then silence until the client leaves),
 * `drip=<ms>` (one byte every that many ms).
 */
export async function serveFile(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  req.resume();
  const q = url.searchParams;
  const name = url.pathname.slice(FILES_PREFIX.length);
  const delay = Number(q.get('delay') ?? 0);
  if (delay > 0) await sleep(delay);
  if (res.destroyed) return;

  if (name === 'redirect') {
    const hops = Number(q.get('hops') ?? 0);
    const next = new URLSearchParams(q);
    next.set('hops', String(hops - 1));
    const location = hops > 0 ? `${FILES_PREFIX}redirect?${next}` : (q.get('to') ?? `${FILES_PREFIX}pixel.png`);
    res.writeHead(302, { location, 'content-length': 0 });
    res.end();
    return;
  }
  const status = /^status\/(\d{3})$/.exec(name);
  if (status) return sendJson(res, Number(status[1]), { error: 'emulated origin status' });

  const body = bodyFor(name, q.get('bytes'));
  if (!body) return sendJson(res, 404, { error: `no file ${name}` });
  const headers: Record<string, string | number> = {};
  const type = q.has('type') ? q.get('type')! : body.mime;
  if (type !== '') headers['content-type'] = type;
  if (!q.has('chunked')) headers['content-length'] = body.size;
  const disposition = q.get('disposition');
  if (disposition) headers['content-disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(disposition)}`;
  res.writeHead(200, headers);

  const drip = Number(q.get('drip') ?? 0);
  if (drip > 0) {
    // A byte at a time: never silent for long, never done soon.
    for (let at = 0; at < body.size && !res.destroyed; at++) {
      res.write(body.slice(at, 1));
      await sleep(drip);
    }
    res.end();
    return;
  }
  const stallAfter = q.has('stallAfter') ? Number(q.get('stallAfter')) : Infinity;
  for (let from = 0; from < body.size && !res.destroyed; from += CHUNK) {
    if (from >= stallAfter) {
      await once(res, 'close');
      return;
    }
    if (!res.write(body.slice(from, Math.min(CHUNK, body.size - from)))) await drained(res);
  }
  res.end();
}

import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AttachmentFetchError, AttachmentTooLargeError } from '../errors.js';
import { discard, originFailure, type OriginClient, type OriginResponse } from './origin.js';
import { bufferedFile, checkSize, fileName, type PreparedFile } from './prepared-file.js';
import { resolveMime, SNIFF_BYTES } from './sniff.js';

/** An origin body and the one iterator that reads it (a Readable must not get a second one). */
interface Source {
  body: Readable;
  chunks: AsyncIterator<Buffer>;
}

const sourceOf = (body: Readable): Source => ({ body, chunks: body[Symbol.asyncIterator]() as AsyncIterator<Buffer> });

export interface RemoteOptions {
  maxBytes: number;
  /** Total time to fetch the file far enough to know it (ATTACHMENT_FETCH_TIMEOUT_MS). */
  timeoutMs: number;
  tmpDir: string;
  /** Told the size of every chunk relayed (see gc-hint.ts). */
  relayed: (bytes: number) => void;
  filename?: string;
  fallback: string;
}

interface Relay {
  host: string;
  name: string;
  signal: AbortSignal;
  /** Bytes allowed through: the announced size, or the size limit when none was announced. */
  limit: number;
  maxBytes: number;
  /** The Content-Length the origin announced, which the bytes must match exactly. */
  expected?: number;
  relayed: (bytes: number) => void;
}

/**
 * Fetches an attachment URL far enough to know what it is. A small file (it fits the sniffing
 * window) is kept in memory; a larger one with a Content-Length stays an open origin stream that
 * is piped upstream later; one without goes to a temporary file first, since the upload must
 * announce its size. Over-limit files fail with 413 as soon as that is known.
 */
export async function remoteFile(client: OriginClient, url: URL, opts: RemoteOptions, clientSignal: AbortSignal): Promise<PreparedFile> {
  // A total deadline on fetching (headers, sniffing, spooling): an origin dripping a byte a second
  // is never silent long enough for the silence timeouts. Relaying a streamed file later is not
  // covered: that runs at the upload's pace.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new AttachmentFetchError(url.host, `timed out: the file was not fetched within ${opts.timeoutMs} ms`)), opts.timeoutMs);
  try {
    return await fetchRemote(client, url, opts, AbortSignal.any([clientSignal, deadline.signal]));
  } finally {
    clearTimeout(timer);
  }
}

async function fetchRemote(client: OriginClient, url: URL, opts: RemoteOptions, signal: AbortSignal): Promise<PreparedFile> {
  const res = await client.open(url, signal);
  const host = res.url.host;
  const source = sourceOf(res.body);
  try {
    const given = opts.filename ?? dispositionName(res.headers['content-disposition']) ?? lastSegment(res.url);
    const announced = contentLength(res.headers);
    if (announced !== undefined) checkSize(announced, given ?? host, opts.maxBytes);
    const { head, ended } = await readHead(source, host, signal);
    const type = resolveMime(head, single(res.headers['content-type']), given);
    const name = fileName(given, type.mime, opts.fallback);
    const meta = { name, mime: type.mime, width: type.width, height: type.height };
    const relay = { host, name, signal, maxBytes: opts.maxBytes, relayed: opts.relayed };
    if (ended) {
      checkSize(head.length, name, opts.maxBytes);
      return bufferedFile(head, meta);
    }
    if (announced !== undefined) return streamedFile(client, res, source, head, { ...meta, size: announced }, { ...relay, limit: announced, expected: announced });
    return await spooledFile(source, head, meta, { ...relay, limit: opts.maxBytes }, opts.tmpDir);
  } catch (err) {
    // Destroyed rather than iterator.return(), which would wait for a read still pending.
    discard(res.body);
    throw err;
  }
}

async function readHead(source: Source, host: string, signal: AbortSignal): Promise<{ head: Buffer; ended: boolean }> {
  const parts: Buffer[] = [];
  let size = 0;
  while (size < SNIFF_BYTES) {
    const step = await next(source, host, signal);
    if (step.done) return { head: Buffer.concat(parts), ended: true };
    parts.push(step.value);
    size += step.value.length;
  }
  return { head: Buffer.concat(parts), ended: false };
}

async function next(source: Source, host: string, signal: AbortSignal): Promise<IteratorResult<Buffer>> {
  try {
    return await source.chunks.next();
  } catch (err) {
    throw originFailure(err, host, signal);
  }
}

/** The origin's bytes after `head`, counted against the limit (and the announced size). */
async function* relay(head: Buffer, source: Source, r: Relay): AsyncGenerator<Buffer> {
  try {
    let sent = head.length;
    if (sent > r.limit) throw new AttachmentTooLargeError(r.name, String(r.maxBytes));
    if (sent > 0) yield head;
    for (;;) {
      const step = await next(source, r.host, r.signal);
      if (step.done) break;
      sent += step.value.length;
      r.relayed(step.value.length);
      if (sent > r.limit) {
        throw r.expected === undefined ? new AttachmentTooLargeError(r.name, String(r.maxBytes)) : new AttachmentFetchError(r.host, 'it sent more than its Content-Length');
      }
      yield step.value;
    }
    if (r.expected !== undefined && sent !== r.expected) throw new AttachmentFetchError(r.host, `it sent ${sent} of the ${r.expected} bytes it announced`);
  } finally {
    discard(source.body);
  }
}

function streamedFile(
  client: OriginClient,
  res: OriginResponse,
  first: Source,
  head: Buffer,
  meta: Omit<PreparedFile, 'open' | 'dispose'>,
  r: Relay,
): PreparedFile {
  let unused: Source | undefined = first;
  const bodies = new Set<Readable>([first.body]);
  return {
    ...meta,
    async open(signal) {
      if (unused) {
        const source = unused;
        unused = undefined;
        return Readable.from(relay(head, source, r), { objectMode: false });
      }
      // A second attempt (the session was refreshed mid-upload): the first stream is spent.
      const again = await client.open(res.url, signal);
      bodies.add(again.body);
      if (contentLength(again.headers) !== meta.size) {
        discard(again.body);
        throw new AttachmentFetchError(r.host, 'its size changed between two fetches');
      }
      return Readable.from(relay(Buffer.alloc(0), sourceOf(again.body), { ...r, signal }), { objectMode: false });
    },
    // A relay never read never runs its finally, so the origin streams are closed here too.
    async dispose() {
      unused = undefined;
      for (const body of bodies) discard(body);
      bodies.clear();
    },
  };
}

async function spooledFile(source: Source, head: Buffer, meta: Omit<PreparedFile, 'open' | 'dispose' | 'size'>, r: Relay, tmpDir: string): Promise<PreparedFile> {
  const path = join(tmpDir, `step-gateway-${randomUUID()}`);
  const readers = new Set<Readable>();
  const dispose = async () => {
    for (const reader of readers) reader.destroy();
    await rm(path, { force: true });
  };
  try {
    await pipeline(Readable.from(relay(head, source, r), { objectMode: false }), createWriteStream(path, { flags: 'wx', mode: 0o600 }));
    const { size } = await stat(path);
    checkSize(size, meta.name, r.maxBytes);
    return {
      ...meta,
      size,
      async open() {
        const reader = createReadStream(path);
        readers.add(reader);
        reader.once('close', () => readers.delete(reader));
        return Readable.from(metered(reader, r.relayed), { objectMode: false });
      },
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

async function* metered(source: Readable, relayed: (bytes: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    relayed((chunk as Buffer).length);
    yield chunk as Buffer;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const raw = single(headers['content-length']);
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw);
}

/** The file name of a Content-Disposition header: RFC 5987 `filename*` first, then `filename`. */
export function dispositionName(value: string | string[] | undefined): string | undefined {
  const header = single(value);
  if (!header) return undefined;
  const extended = /filename\*\s*=\s*[\w-]+'[^']*'([^;]+)/i.exec(header);
  if (extended) {
    try {
      return decodeURIComponent(extended[1]!.trim());
    } catch {
      // fall through to the plain form
    }
  }
  const plain = /filename\s*=\s*(?:"([^"]*)"|([^;]+))/i.exec(header);
  return (plain?.[1] ?? plain?.[2])?.trim() || undefined;
}

function lastSegment(url: URL): string | undefined {
  const segment = url.pathname.split('/').pop() ?? '';
  try {
    return decodeURIComponent(segment) || undefined;
  } catch {
    return segment || undefined;
  }
}

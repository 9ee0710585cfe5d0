import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { errorCodes } from 'fastify';
import fp from 'fastify-plugin';
import { createDataUrlScanner } from '../src/attachments/data-url-scan.js';
import { restoreOutsideAttachments, type InlineFiles } from '../src/attachments/inline-refs.js';
import { createGcHint } from '../src/attachments/gc-hint.js';

/** Bodies from this size on are scanned for data URLs, and what is left parsed in a worker thread if still this large. */
const OFF_THREAD_BYTES = 1024 * 1024;
// Copies of a text parsed in the worker held beyond the received bytes: the worker's bytes and
// string, the parsed value it posts back (bench/large-bodies.ts measured ~4 times the body in all
// when data URLs were not taken out).
const WORKER_COPIES = 3;
// One: two 60 MB bodies parsed at once cost twice the transient memory, for little gain on a small machine.
const WORKERS = 1;

// Fastify's own parser (secure-json-parse), run in the worker: the same prototype-poisoning checks.
const require = createRequire(import.meta.url);
const SJP = createRequire(require.resolve('fastify')).resolve('secure-json-parse');
// Inline CommonJS, so the same code runs from src/ (tsx) and dist/. A body's chunks arrive as
// they are received; its end brings the parse options.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const sjp = require(${JSON.stringify(SJP)});
const bodies = new Map();
parentPort.on('message', ({ id, length, chunk, end, abort }) => {
  if (abort) return bodies.delete(id);
  if (length !== undefined) {
    // Copied into one buffer as it arrives (its Content-Length when known): no second copy at the end.
    bodies.set(id, length > 0 ? { buf: Buffer.allocUnsafe(length), at: 0 } : { chunks: [] });
    return;
  }
  const body = bodies.get(id);
  if (!body) return;
  if (chunk) {
    if (body.buf && body.at + chunk.length <= body.buf.length) body.at += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).copy(body.buf, body.at);
    else {
      body.chunks ??= body.buf ? [body.buf.subarray(0, body.at)] : [];
      body.buf = undefined;
      body.chunks.push(chunk);
    }
  }
  if (!end) return;
  bodies.delete(id);
  let text = (body.buf ? body.buf.subarray(0, body.at) : Buffer.concat(body.chunks)).toString('utf8');
  body.buf = body.chunks = undefined;
  // Each step leaves a copy of the body as garbage (bytes, text, parsed value, message): collected
  // at once, the worker holds two at a time rather than four. Only with --expose-gc (npm start).
  const collect = typeof gc === 'function' ? gc : () => undefined;
  collect();
  let value;
  try {
    value = sjp.parse(text, end);
  } catch {
    return parentPort.postMessage({ id, failed: true });
  } finally {
    text = undefined;
  }
  collect();
  parentPort.postMessage({ id, value });
  value = undefined;
  collect();
});`;

interface Slot {
  worker: Worker;
  busy: number;
}

interface Pending {
  slot: Slot;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** A few workers, started on first use and unref'd so they never hold the process open. */
function createPool(size: number) {
  const workers: Slot[] = [];
  const pending = new Map<number, Pending>();
  let nextId = 0;

  function spawn(): Slot {
    const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true }), busy: 0 };
    slot.worker.unref();
    slot.worker.on('message', (msg: { id: number; value?: unknown; failed?: boolean }) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      slot.busy--;
      if (msg.failed) p.reject(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
      else p.resolve(msg.value);
    });
    // A worker that dies fails what it held; the next body starts a fresh one.
    slot.worker.on('error', () => undefined);
    slot.worker.once('exit', () => {
      workers.splice(workers.indexOf(slot), 1);
      for (const [id, p] of pending) {
        if (p.slot !== slot) continue;
        pending.delete(id);
        p.reject(new Error('the JSON parsing worker exited'));
      }
    });
    workers.push(slot);
    return slot;
  }

  /** A body streamed to a worker chunk by chunk: the main thread never concatenates it. */
  function open(length: number) {
    const slot = workers.length < size ? spawn() : workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    const id = nextId++;
    slot.worker.postMessage({ id, length });
    let result: Promise<unknown> | undefined;
    return {
      write(chunk: Buffer) {
        // A copy of its own (a socket chunk may be a view into a larger buffer), moved, not cloned.
        const own = Uint8Array.prototype.slice.call(chunk);
        slot.worker.postMessage({ id, chunk: own }, [own.buffer as ArrayBuffer]);
      },
      end(options: object): Promise<unknown> {
        result = new Promise((resolve, reject) => pending.set(id, { slot, resolve, reject }));
        slot.worker.postMessage({ id, end: options });
        return result;
      },
      abort() {
        if (result) return;
        slot.busy--;
        slot.worker.postMessage({ id, abort: true });
      },
    };
  }

  return { open, close: () => Promise.all(workers.map((w) => w.worker.terminate())) };
}

/**
 * application/json bodies of a megabyte or more are scanned as they arrive: each long base64 data
 * URL is decoded on the way and left in the text as a reference (src/attachments/data-url-scan.ts),
 * so a 60 MB image costs its 45 MB of bytes rather than its text, a parsed copy and a decoded one.
 * What is left is parsed by Fastify's own parser, in a worker thread when still a megabyte or more
 * (parsing 60 MB of JSON blocks the event loop for hundreds of ms, /ping and every stream included).
 * The same limits, errors and poisoning checks as Fastify's own parser (whose rawBody this follows).
 */
export default fp(
  async (app) => {
    const small = app.getDefaultJsonParser('error', 'error');
    const pool = createPool(WORKERS);
    // A scanned body's chunks are garbage at once, as a relayed file's are (src/attachments/gc-hint.ts).
    const spent = createGcHint(app.config.ATTACHMENT_GC_EVERY_BYTES);
    const options = { protoAction: 'error', constructorAction: 'error' };
    const { FST_ERR_CTP_BODY_TOO_LARGE, FST_ERR_CTP_INVALID_CONTENT_LENGTH } = errorCodes;
    app.decorateRequest('inlineFiles', null);
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', (request, payload, done) => {
      const limit = request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit ?? Infinity;
      const contentLength = Number(request.headers['content-length']);
      if (contentLength > limit) return done(new FST_ERR_CTP_BODY_TOO_LARGE(), undefined);
      let received = 0;
      let chunks: Buffer[] = [];
      let scanner: ReturnType<typeof createDataUrlScanner> | undefined;
      let offThread: ReturnType<typeof pool.open> | undefined;
      const toScanner = () => {
        scanner = createDataUrlScanner();
        for (const c of chunks) scanner.write(c);
        chunks = [];
      };
      if (contentLength >= OFF_THREAD_BYTES) toScanner();

      let settled = false;
      // A body cut off while the worker parses it must not stay there.
      request.raw.once('close', () => settled || offThread?.abort());
      const stop = () => {
        payload.removeListener('data', onData);
        payload.removeListener('end', onEnd);
        payload.removeListener('error', onEnd);
      };
      const fail = (err: Error) => {
        settled = true;
        offThread?.abort();
        done(err, undefined);
      };
      const onData = (data: Buffer | string) => {
        const chunk = typeof data === 'string' ? Buffer.from(data) : data;
        received += chunk.length;
        const encoded = (payload as { receivedEncodedLength?: number }).receivedEncodedLength ?? 0;
        if (received > limit || encoded > limit) {
          stop();
          return fail(new FST_ERR_CTP_BODY_TOO_LARGE());
        }
        if (scanner) {
          scanner.write(chunk);
          spent(chunk.length);
        } else {
          chunks.push(chunk);
          if (received >= OFF_THREAD_BYTES) toScanner();
        }
      };
      const onEnd = (err?: Error & { statusCode?: number }) => {
        stop();
        if (err != null) {
          if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
          return fail(err);
        }
        if (!Number.isNaN(contentLength) && ((payload as { receivedEncodedLength?: number }).receivedEncodedLength || received) !== contentLength) {
          return fail(new FST_ERR_CTP_INVALID_CONTENT_LENGTH());
        }
        if (!scanner) {
          settled = true;
          return small(request, Buffer.concat(chunks, received).toString('utf8'), done);
        }
        const { text, files } = scanner.end();
        scanner = undefined;
        const parsed = (e: Error | null, value?: unknown) => {
          settled = true;
          if (e) return done(e, undefined);
          if (files && value !== null && typeof value === 'object') {
            restoreOutsideAttachments(value, files);
            request.inlineFiles = files;
          }
          done(null, value);
        };
        if (text.length < OFF_THREAD_BYTES) return small(request, text.toString('utf8'), parsed);
        const refused = request.bodyBudget?.charge(text.length * WORKER_COPIES);
        if (refused) return fail(refused);
        offThread = pool.open(text.length);
        offThread.write(text);
        offThread.end(options).then(
          (value) => parsed(null, value),
          (e: Error) => parsed(e),
        );
      };
      payload.on('data', onData);
      payload.on('end', onEnd);
      payload.on('error', onEnd);
      payload.resume();
    });
    app.addHook('onClose', async () => {
      await pool.close();
    });
  },
  { name: 'json-body', dependencies: ['config'] },
);

declare module 'fastify' {
  interface FastifyRequest {
    /** The data URLs taken out of a large body as it arrived; the body holds references to them. */
    inlineFiles: InlineFiles | null;
  }
}

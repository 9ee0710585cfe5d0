import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { errorCodes } from 'fastify';
import fp from 'fastify-plugin';

/** Bodies from this size on are parsed in a worker thread; smaller ones by Fastify's own parser. */
const OFF_THREAD_BYTES = 1024 * 1024;
const WORKERS = 2;

// Fastify's own parser (secure-json-parse), run in the worker: same prototype-poisoning checks.
const require = createRequire(import.meta.url);
const SJP = createRequire(require.resolve('fastify')).resolve('secure-json-parse');
// Inline CommonJS, so the same code runs from src/ (tsx) and dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const sjp = require(${JSON.stringify(SJP)});
const decoder = new TextDecoder();
parentPort.on('message', ({ id, bytes, options }) => {
  try {
    parentPort.postMessage({ id, value: sjp.parse(decoder.decode(bytes), options) });
  } catch {
    parentPort.postMessage({ id, failed: true });
  }
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

  function spawn() {
    const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true }), busy: 0 };
    slot.worker.unref();
    slot.worker.on('message', (msg: { id: number; value?: unknown; failed?: boolean }) => {
      slot.busy--;
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.failed) p?.reject(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
      else p?.resolve(msg.value);
    });
    // A worker that dies fails what it held; the next parse starts a fresh one.
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

  return {
    parse(bytes: Buffer, options: object): Promise<unknown> {
      const slot = workers.length < size ? spawn() : workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      slot.busy++;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { slot, resolve, reject });
        // The body's memory moves to the worker when it is its own ArrayBuffer; else it is copied.
        const own = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length;
        slot.worker.postMessage({ id, bytes, options }, own ? [bytes.buffer as ArrayBuffer] : []);
      });
    },
    close: () => Promise.all(workers.map((w) => w.worker.terminate())),
  };
}

/**
 * application/json bodies of a megabyte or more are parsed in a worker thread: JSON.parse of a
 * 60 MB body (an attachment as a data URL) otherwise blocks the event loop for hundreds of ms,
 * /ping and every stream included. The result is mostly one long string, cheap to copy back.
 * Same errors and poisoning checks as Fastify's own parser.
 */
export default fp(
  async (app) => {
    const small = app.getDefaultJsonParser('error', 'error');
    const pool = createPool(WORKERS);
    const options = { protoAction: 'error', constructorAction: 'error' };
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
      if (body.length < OFF_THREAD_BYTES) return small(request, body.toString('utf8'), done);
      pool.parse(body, options).then(
        (value) => done(null, value),
        (err: Error) => done(err, undefined),
      );
    });
    app.addHook('onClose', async () => {
      await pool.close();
    });
  },
  { name: 'json-body' },
);

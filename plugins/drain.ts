import fp from 'fastify-plugin';
import { createInflight } from '../src/ops/drain.js';
import { ShuttingDownError } from '../src/errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Fires when the shutdown grace is over: completions still running end with an error chunk. */
    shutdownSignal: AbortSignal;
    /**
     * Stops taking work (readiness and new requests answer 503), lets requests in progress finish
     * for up to `graceMs`, then ends the rest and waits briefly for them to wind down. With
     * `serveArrivals` (a cluster worker that stopped listening), a request that still arrives on a
     * connection handed over before the listener closed is served, with `Connection: close`,
     * rather than refused: no other process would answer it.
     */
    drain(graceMs: number, opts?: { serveArrivals?: boolean }): Promise<void>;
  }
}

// Probes, metrics and the admin status keep answering during a drain: load balancers and operators watch them.
const ALWAYS_OPEN = /^\/(healthz|readyz|metrics|admin\/)/;

/** Graceful shutdown: `app.drain(SHUTDOWN_GRACE_MS)` before `app.close()` (src/server.ts). */
export default fp(
  async (app) => {
    const controller = new AbortController();
    const inflight = createInflight();
    app.decorate('shutdownSignal', controller.signal);

    let serveArrivals = false;
    app.addHook('onRequest', async (request, reply) => {
      if (ALWAYS_OPEN.test(request.url)) return;
      if (app.draining) {
        if (!serveArrivals || controller.signal.aborted) throw Object.assign(new ShuttingDownError(), { retryAfter: 5 });
        void reply.header('connection', 'close');
      }
      reply.raw.once('close', inflight.start());
    });

    app.decorate('drain', async (graceMs: number, opts: { serveArrivals?: boolean } = {}) => {
      serveArrivals = opts.serveArrivals === true;
      app.draining = true;
      app.log.info({ inflight: inflight.active, graceMs }, 'draining: no new requests; waiting for those in progress');
      if (await inflight.idle(graceMs)) return;
      app.log.warn({ inflight: inflight.active }, 'shutdown grace over: ending the requests still in progress');
      controller.abort();
      await inflight.idle(5_000);
    });
  },
  { name: 'drain', dependencies: ['health'] },
);

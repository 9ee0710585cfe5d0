import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { FastifySSEPlugin } from 'fastify-sse-v2';
import { ClientGoneError } from '../src/errors.js';
import { toErrorReply } from '../src/error-shape.js';

const SILENT = Symbol('silent');
type Step = IteratorResult<string[]> | typeof SILENT;

/**
 * One re-armed timer per stream: `wait(pending)` settles with the next step of the source, or
 * with SILENT when `ms` pass without `reset()`. Cheaper than a new timer per chunk, and unlike
 * `Promise.race` with one long-lived promise it leaves no reaction behind per chunk (a race adds
 * one to the silence promise every time, all kept until the stream ends).
 */
class Silence {
  private wake: ((s: typeof SILENT) => void) | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(ms: number) {
    this.timer = setTimeout(() => {
      this.timer.refresh();
      const wake = this.wake;
      this.wake = undefined;
      wake?.(SILENT);
    }, ms);
  }

  wait(pending: Promise<IteratorResult<string[]>>): Promise<Step> {
    return new Promise<Step>((resolve, reject) => {
      this.wake = resolve;
      pending.then(resolve, reject);
    });
  }

  reset(): void {
    this.timer.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.wake = undefined;
  }
}

/**
 * Holds the socket's writes until the loop turns, so a batch of events leaves in one `writev`
 * instead of one per event (fastify-sse-v2 writes each event separately).
 */
function coalesce(reply: FastifyReply): void {
  const raw = reply.raw;
  raw.cork();
  setImmediate(() => raw.uncork());
}

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Streams batches of `data:` payloads as Server-Sent Events. The status and headers wait for
     * the first batch (at most the keep-alive interval), so a source that fails at once still gets
     * a real HTTP error; later failures become an in-stream error event. A `: keep-alive` comment
     * fills every silence of the keep-alive interval. Ends with `data: [DONE]`.
     */
    eventStream(source: AsyncIterable<string[]>): Promise<void>;
  }
}

export default fp(
  async (app) => {
    await app.register(FastifySSEPlugin, { retryDelay: false });
    const keepAliveMs = app.config.SSE_KEEPALIVE_MS;

    async function* events(reply: FastifyReply, it: AsyncIterator<string[]>, silence: Silence, first: Step, pending: Promise<IteratorResult<string[]>>) {
      try {
        let step = first;
        for (;;) {
          if (step === SILENT) {
            yield { comment: ' keep-alive' };
          } else if (step.done) {
            break;
          } else {
            if (step.value.length > 1) coalesce(reply);
            for (const data of step.value) yield { data };
            pending = it.next();
            silence.reset();
          }
          step = await silence.wait(pending);
        }
      } catch (err) {
        if (err instanceof ClientGoneError || reply.raw.destroyed) return;
        const { body } = toErrorReply(err as Error);
        reply.log.warn({ code: body.error.code }, `stream failed: ${body.error.message}`);
        yield { data: JSON.stringify(body) };
      } finally {
        silence.stop();
      }
      coalesce(reply);
      yield { data: '[DONE]' };
    }

    app.decorateReply('eventStream', async function eventStream(this: FastifyReply, source: AsyncIterable<string[]>) {
      const it = source[Symbol.asyncIterator]();
      const pending = it.next();
      const silence = new Silence(keepAliveMs);
      let first: Step;
      try {
        first = await silence.wait(pending);
      } catch (err) {
        silence.stop();
        throw err;
      }
      // A client that leaves mid-stream: unwind the source so upstream work stops and cleans up.
      this.raw.once('close', () => {
        if (!this.raw.writableFinished) void it.return?.(undefined).catch(() => undefined);
      });
      // The status line and headers leave with the first events rather than in a packet of their own.
      coalesce(this);
      // Headers written here (fastify-sse-v2's set, plus those hooks such as CORS put on the reply):
      // handed a reply whose headers are already out, fastify-sse-v2 only pipes the events, instead
      // of also building an idle push-source pipeline per reply that nothing uses.
      this.hijack();
      this.raw.writeHead(200, {
        ...(this.getHeaders() as OutgoingHttpHeaders),
        'content-type': 'text/event-stream; charset=utf-8',
        connection: 'keep-alive',
        'cache-control': 'no-cache,no-transform',
        'x-accel-buffering': 'no',
      });
      this.sse(events(this, it, silence, first, pending));
    });
  },
  { name: 'sse-reply', dependencies: ['config'] },
);

import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { FastifySSEPlugin } from 'fastify-sse-v2';
import { ClientGoneError } from '../src/errors.js';
import { toErrorReply } from '../src/error-shape.js';

const SILENT = Symbol('silent');
type Step = IteratorResult<string> | typeof SILENT;

function within(pending: Promise<IteratorResult<string>>, ms: number): Promise<Step> {
  let timer: NodeJS.Timeout | undefined;
  const tick = new Promise<typeof SILENT>((resolve) => {
    timer = setTimeout(resolve, ms, SILENT);
  });
  return Promise.race([pending, tick]).finally(() => clearTimeout(timer));
}

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Streams `data:` payloads as Server-Sent Events. The status and headers wait for the first
     * payload (at most the keep-alive interval), so a source that fails at once still gets a real
     * HTTP error; later failures become an in-stream error event. Ends with `data: [DONE]`.
     */
    eventStream(source: AsyncIterable<string>): Promise<void>;
  }
}

export default fp(
  async (app) => {
    await app.register(FastifySSEPlugin, { retryDelay: false });
    const keepAliveMs = app.config.SSE_KEEPALIVE_MS;

    async function* events(reply: FastifyReply, it: AsyncIterator<string>, first: Step, pending: Promise<IteratorResult<string>>) {
      try {
        let step = first;
        for (;;) {
          if (step === SILENT) {
            yield { comment: ' keep-alive' };
          } else if (step.done) {
            break;
          } else {
            yield { data: step.value };
            pending = it.next();
          }
          step = await within(pending, keepAliveMs);
        }
      } catch (err) {
        if (err instanceof ClientGoneError || reply.raw.destroyed) return;
        const { body } = toErrorReply(err as Error);
        reply.log.warn({ code: body.error.code }, `stream failed: ${body.error.message}`);
        yield { data: JSON.stringify(body) };
      }
      yield { data: '[DONE]' };
    }

    app.decorateReply('eventStream', async function eventStream(this: FastifyReply, source: AsyncIterable<string>) {
      const it = source[Symbol.asyncIterator]();
      const pending = it.next();
      const first = await within(pending, keepAliveMs);
      // A client that leaves mid-stream: unwind the source so upstream work stops and cleans up.
      this.raw.once('close', () => {
        if (!this.raw.writableFinished) void it.return?.(undefined).catch(() => undefined);
      });
      this.header('x-accel-buffering', 'no');
      this.sse(events(this, it, first, pending));
    });
  },
  { name: 'sse-reply', dependencies: ['config'] },
);

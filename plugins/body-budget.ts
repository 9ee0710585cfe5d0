import { Transform } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { BodyBudgetError } from '../src/errors.js';

/**
 * Bounds the memory request bodies take: the bytes of every request body being received, parsed
 * and held until its response is over count against BODY_BUDGET_BYTES (a body's data URLs are
 * decoded as it arrives, holding less than its size; JSON parsed in the worker is charged more
 * through request.bodyBudget). A request announcing a
 * Content-Length that does not fit is answered 503 with Retry-After before its body is read; a
 * chunked one is counted as it arrives and cut off once it does not fit.
 */
export default fp(
  async (app) => {
    const budget = app.config.BODY_BUDGET_BYTES;
    const bodyLimit = app.config.BODY_LIMIT_BYTES;
    const retryAfter = String(app.config.PRESSURE_RETRY_AFTER_S);
    app.decorateRequest('bodyBudget', null);
    if (budget <= 0) return;
    let inflight = 0;

    /** Takes `bytes` from the budget until the response is over. */
    function hold(request: FastifyRequest, reply: FastifyReply, bytes: number): { add(more: number): void } {
      let held = 0;
      const add = (more: number) => {
        held += more;
        inflight += more;
      };
      add(bytes);
      reply.raw.once('close', () => {
        inflight -= held;
        held = 0;
      });
      // What parsing costs beyond the bytes received; refused only while other bodies are held too,
      // so a lone body within BODY_LIMIT_BYTES is always parsed.
      request.bodyBudget = {
        charge(more) {
          if (inflight + more > budget && inflight > held) {
            request.log.warn({ more, inflight, budget }, 'request body budget exhausted while parsing');
            void reply.header('retry-after', retryAfter);
            return new BodyBudgetError();
          }
          add(more);
          return undefined;
        },
      };
      return { add };
    }

    function refuse(reply: FastifyReply): never {
      void reply.header('retry-after', retryAfter);
      throw new BodyBudgetError();
    }

    app.addHook('onRequest', async (request, reply) => {
      const raw = request.headers['content-length'];
      if (raw === undefined) return;
      const length = Number(raw);
      // Over the body limit it is a 413 anyway, without reading it.
      if (!Number.isSafeInteger(length) || length <= 0 || length > bodyLimit) return;
      if (inflight + length > budget) {
        request.log.warn({ length, inflight, budget }, 'request body budget exhausted');
        refuse(reply);
      }
      hold(request, reply, length);
    });

    app.addHook('preParsing', async (request, reply, payload) => {
      if (request.headers['content-length'] !== undefined) return payload;
      const held = hold(request, reply, 0);
      return payload.pipe(
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            if (inflight + chunk.length > budget) {
              void reply.header('retry-after', retryAfter);
              done(new BodyBudgetError());
              return;
            }
            held.add(chunk.length);
            done(null, chunk);
          },
        }),
      );
    });
  },
  { name: 'body-budget', dependencies: ['config', 'error-handler'] },
);

declare module 'fastify' {
  interface FastifyRequest {
    /** Takes more from the body budget for this request (what parsing will hold): an error to fail with when it does not fit. */
    bodyBudget: { charge(bytes: number): Error | undefined } | null;
  }
}

import fp from 'fastify-plugin';
import { ClientGoneError } from '../src/errors.js';
import { toErrorReply } from '../src/error-shape.js';

/** One place where every failure becomes an OpenAI-shaped error with its real HTTP status. */
export default fp(
  async (app) => {
    app.setErrorHandler((err, request, reply) => {
      if (err instanceof ClientGoneError) {
        request.log.info('client closed the connection before the answer was complete');
        return reply.code(499).send();
      }
      const { status, body, headers } = toErrorReply(err as Error);
      // Upstream failures are expected operational events: one line, no stack. Anything else that
      // ends in a 5xx is a bug and is logged whole.
      if (status >= 500 && !(err as { code?: string }).code?.startsWith('STEP_')) request.log.error({ err }, 'request failed');
      else request.log[status >= 500 ? 'warn' : 'info']({ status, code: body.error.code }, body.error.message);
      return reply.code(status).headers(headers).send(body);
    });

    app.setNotFoundHandler((request, reply) => {
      const { body, headers } = toErrorReply(Object.assign(new Error(`Unknown route ${request.method} ${request.url.split('?')[0]}`), { statusCode: 404 }));
      body.error.code = 'unknown_route';
      return reply.code(404).headers(headers).send(body);
    });
  },
  { name: 'error-handler' },
);

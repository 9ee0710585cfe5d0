import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { ClientGoneError } from '../src/errors.js';
import { toErrorReply } from '../src/error-shape.js';

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Answers `body` as JSON. With NONSTREAM_KEEPALIVE_MS set and the body not ready by then, the
     * 200 leaves early and a space every SSE_KEEPALIVE_MS keeps proxies from timing out (JSON
     * allows leading whitespace); a failure after that is a 200 with the error body.
     */
    jsonKeepAlive<T>(body: Promise<T>): Promise<T | undefined>;
  }
}

const PENDING = Symbol('pending');

export default fp(
  async (app) => {
    const afterMs = app.config.NONSTREAM_KEEPALIVE_MS;
    const everyMs = app.config.SSE_KEEPALIVE_MS;

    app.decorateReply('jsonKeepAlive', async function jsonKeepAlive<T>(this: FastifyReply, body: Promise<T>): Promise<T | undefined> {
      if (afterMs <= 0) return body;
      let timer: NodeJS.Timeout | undefined;
      const early = await Promise.race([body, new Promise<typeof PENDING>((resolve) => (timer = setTimeout(resolve, afterMs, PENDING)))]).finally(() => clearTimeout(timer));
      if (early !== PENDING) return early;

      this.hijack();
      const raw = this.raw;
      raw.writeHead(200, { ...(this.getHeaders() as OutgoingHttpHeaders), 'content-type': 'application/json; charset=utf-8', 'x-accel-buffering': 'no' });
      raw.write(' ');
      const beat = setInterval(() => raw.write(' '), everyMs);
      try {
        raw.end(JSON.stringify(await body));
      } catch (err) {
        if (err instanceof ClientGoneError || raw.destroyed) return undefined;
        const { body: error } = toErrorReply(err as Error);
        this.log.warn({ code: error.error.code }, `completion failed after the keep-alive 200: ${error.error.message}`);
        raw.end(JSON.stringify(error));
      } finally {
        clearInterval(beat);
      }
      return undefined;
    });
  },
  { name: 'json-keepalive', dependencies: ['config'] },
);

import fp from 'fastify-plugin';
import type { Config } from '../src/config.js';
import { createHttp } from '../src/upstream/http.js';
import { createYuewenDialect, YUEWEN_BASE_URL } from '../src/upstream/yuewen.js';

const DEFAULT_BASE_URL: Record<Config['STEP_DIALECT'], string> = { yuewen: YUEWEN_BASE_URL };

/** The StepChat client: one undici dispatcher and the configured dialect on top of it. */
export function createUpstream(config: Config) {
  const http = createHttp({
    baseUrl: config.STEP_BASE_URL || DEFAULT_BASE_URL[config.STEP_DIALECT],
    connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT_MS,
    headersTimeoutMs: config.UPSTREAM_HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: config.UPSTREAM_BODY_TIMEOUT_MS,
  });
  const dialect = createYuewenDialect(http, { accessTtlMs: config.ACCESS_TOKEN_TTL_MS });
  return { http, dialect };
}

declare module 'fastify' {
  interface FastifyInstance {
    upstream: ReturnType<typeof createUpstream>;
  }
}

export default fp(
  async (app) => {
    const upstream = createUpstream(app.config);
    app.decorate('upstream', upstream);
    // Runs after the token pool's onClose (hooks run in reverse), so pending chat deletions finish first.
    app.addHook('onClose', async () => {
      await upstream.http.close();
    });
  },
  { name: 'upstream-client', dependencies: ['config'] },
);

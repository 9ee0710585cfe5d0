import fp from 'fastify-plugin';
import type { Config } from '../src/config.js';
import { CAPY_BASE_URL, createCapyDialect } from '../src/upstream/capy.js';
import { createDrift, type DriftLog } from '../src/upstream/drift.js';
import { createHttp } from '../src/upstream/http.js';
import { createYuewenDialect, YUEWEN_BASE_URL } from '../src/upstream/yuewen.js';

const DIALECTS = {
  capy: { baseUrl: CAPY_BASE_URL, create: createCapyDialect },
  yuewen: { baseUrl: YUEWEN_BASE_URL, create: createYuewenDialect },
} satisfies Record<Config['STEP_DIALECT'], unknown>;

/** The StepChat client: one undici dispatcher and the configured dialect on top of it. */
export function createUpstream(config: Config, log: DriftLog) {
  const chosen = DIALECTS[config.STEP_DIALECT];
  const http = createHttp({
    baseUrl: config.STEP_BASE_URL || chosen.baseUrl,
    connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT_MS,
    headersTimeoutMs: config.UPSTREAM_HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: config.UPSTREAM_BODY_TIMEOUT_MS,
  });
  const drift = createDrift(log);
  const dialect = chosen.create(http, { accessTtlMs: config.ACCESS_TOKEN_TTL_MS, drift });
  return { http, dialect, drift };
}

declare module 'fastify' {
  interface FastifyInstance {
    upstream: ReturnType<typeof createUpstream>;
  }
}

export default fp(
  async (app) => {
    const upstream = createUpstream(app.config, app.log);
    app.decorate('upstream', upstream);
    // Runs after the token pool's onClose (hooks run in reverse), so pending chat deletions finish first.
    app.addHook('onClose', async () => {
      await upstream.http.close();
    });
  },
  { name: 'upstream-client', dependencies: ['config'] },
);

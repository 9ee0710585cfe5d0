import type { Config } from '../config.js';
import { CAPY_BASE_URL, createCapyDialect } from './capy.js';
import { createDrift, type DriftLog } from './drift.js';
import { createHttp } from './http.js';
import { createYuewenDialect, YUEWEN_BASE_URL } from './yuewen.js';

const DIALECTS = {
  capy: { baseUrl: CAPY_BASE_URL, create: createCapyDialect },
  yuewen: { baseUrl: YUEWEN_BASE_URL, create: createYuewenDialect },
} satisfies Record<Config['STEP_DIALECT'], unknown>;

/** The StepChat client: one undici dispatcher, the configured dialect on top of it, and its drift reports. */
export function createUpstream(config: Config, log: DriftLog) {
  const chosen = DIALECTS[config.STEP_DIALECT];
  const http = createHttp({
    baseUrl: config.STEP_BASE_URL || chosen.baseUrl,
    connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT_MS,
    headersTimeoutMs: config.UPSTREAM_HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: config.UPSTREAM_BODY_TIMEOUT_MS,
    answerTimeoutMs: config.UPSTREAM_ANSWER_TIMEOUT_MS,
  });
  const drift = createDrift(log);
  const dialect = chosen.create(http, { accessTtlMs: config.ACCESS_TOKEN_TTL_MS, drift });
  return { http, dialect, drift };
}

import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { describeConfigError, OpsConfigSchema } from './ops/ops-config.js';
import { SharedStateConfigSchema } from './shared-state/config.js';

const Ms = (def: number, description: string) => Type.Integer({ minimum: 0, default: def, description });

/** Every setting the service reads from the environment; `.env.example` documents each one. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000 }),
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  STEP_DIALECT: Type.Union([Type.Literal('capy'), Type.Literal('yuewen')], { default: 'capy' }),
  STEP_BASE_URL: Type.String({ default: '', description: 'empty: the dialect default' }),
  DEFAULT_MODEL: Type.String({ default: '', description: 'upstream model for unknown names; empty: the dialect default' }),
  SEARCH_DEFAULT: Type.Boolean({ default: false, description: 'web search when the request does not say' }),
  REASONING_OUTPUT: Type.Union([Type.Literal('field'), Type.Literal('think-tags'), Type.Literal('hidden')], { default: 'field' }),
  MODELS_REFRESH_MS: Ms(600_000, 'how long the upstream model list is cached'),
  DATA_DIR: Type.String({ default: './data', description: 'where rotated credentials and the chat journal are kept' }),
  STEP_TOKENS: Type.String({ default: '', description: 'server-side token pool, comma separated' }),
  API_KEYS: Type.String({ default: '', description: 'keys clients present when STEP_TOKENS is used: name:key or a bare key, comma separated' }),
  ALLOW_CLIENT_TOKENS: Type.Boolean({ default: true, description: 'with STEP_TOKENS, whether clients may still bring their own StepChat tokens' }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 0, default: 0, description: 'requests per RATE_LIMIT_WINDOW_MS per API key name (else per client IP); 0 = off' }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1000, default: 60_000, description: 'rate-limit window' }),
  TRUST_PROXY: Type.String({ default: '', description: 'empty/false: X-Forwarded-For ignored; true: trusted; a number: proxy hops; else proxy IPs/CIDRs, comma separated' }),
  UPSTREAM_CONNECT_TIMEOUT_MS: Ms(10_000, 'TCP/TLS connect timeout'),
  UPSTREAM_HEADERS_TIMEOUT_MS: Ms(60_000, 'wait for the upstream response headers'),
  UPSTREAM_BODY_TIMEOUT_MS: Ms(120_000, 'longest silence inside an upstream response body'),
  UPSTREAM_ANSWER_TIMEOUT_MS: Ms(600_000, 'total time an upstream call or answer may take, however steadily it trickles; 0 = no limit'),
  ACCESS_TOKEN_TTL_MS: Ms(840_000, 'assumed access-token lifetime when the token carries no exp'),
  TOKEN_REFRESH_MARGIN_MS: Ms(60_000, 'refresh this long before an access token expires'),
  MAX_TOKENS_PER_REQUEST: Type.Integer({ minimum: 1, default: 64, description: 'tokens one bearer value may carry; more is a 400 before any upstream call' }),
  TOKEN_MAX_CONCURRENCY: Type.Integer({ minimum: 0, default: 0, description: '0 = unlimited' }),
  TOKEN_QUEUE_TIMEOUT_MS: Ms(30_000, 'how long a request waits for a free account when every one is at TOKEN_MAX_CONCURRENCY; then 429'),
  ACCOUNT_RECHECK_MS: Ms(600_000, 'how often a dead pool account is tried again in the background; 0 = never'),
  ACCOUNT_BACKOFF_MIN_MS: Ms(1000, 'first cool-down of an account after a rate limit, 5xx, connection error or timeout; doubles per failure in a row'),
  ACCOUNT_BACKOFF_MAX_MS: Ms(300_000, 'longest cool-down'),
  FAILOVER_ATTEMPTS: Type.Integer({ minimum: 1, default: 3, description: 'accounts tried per completion before its answer starts, the first included' }),
  CONVERSATION_MODE: Type.Union([Type.Literal('auto'), Type.Literal('id'), Type.Literal('off')], {
    default: 'auto',
    description: 'keep upstream chats between turns: matched by history, named by conversation_id, or never',
  }),
  CONVERSATION_TTL_MS: Ms(600_000, 'a kept upstream chat is deleted after this much idleness'),
  CONVERSATION_MAX_KEPT: Type.Integer({ minimum: 0, default: 16, description: 'kept upstream chats per account, least recently used deleted first' }),
  SSE_KEEPALIVE_MS: Ms(15_000, 'comment line interval while the upstream is silent'),
  REQUEST_TIMEOUT_MS: Ms(60_000, 'longest time to receive a whole request (headers and body); slower clients get 408; 0 = no limit'),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 64 * 1024 * 1024 }),
  BODY_BUDGET_BYTES: Type.Integer({ minimum: 0, default: 256 * 1024 * 1024, description: 'request body bytes held at once across requests; beyond it 503 with Retry-After; 0 = no limit' }),
  CORS_ORIGIN: Type.String({ default: '*' }),
  ATTACHMENT_MAX_BYTES: Type.Integer({ minimum: 1, default: 100 * 1024 * 1024, description: 'largest attachment, enforced while streaming' }),
  ATTACHMENT_MAX_COUNT: Type.Integer({ minimum: 0, default: 10, description: 'attachments per request' }),
  ATTACHMENT_FETCH_TIMEOUT_MS: Ms(30_000, 'connect, response headers and longest body silence of an attachment origin'),
  ATTACHMENT_MAX_REDIRECTS: Type.Integer({ minimum: 0, default: 5 }),
  ATTACHMENT_ALLOW_HOSTS: Type.String({ default: '', description: 'host names, IPs or CIDRs exempt from the private-address check' }),
  ATTACHMENT_TMP_DIR: Type.String({ default: '', description: 'empty: os.tmpdir()' }),
  ATTACHMENT_POLL_INITIAL_MS: Ms(200, 'first file-status poll after an upload'),
  ATTACHMENT_POLL_MAX_MS: Ms(2_000, 'longest interval between file-status polls'),
  ATTACHMENT_POLL_DEADLINE_MS: Ms(60_000, 'give up on an upload the upstream has not processed by then'),
  ATTACHMENT_GC_EVERY_BYTES: Type.Integer({ minimum: 0, default: 4 * 1024 * 1024, description: 'minor GC hint while relaying files; 0 = never' }),
  ...OpsConfigSchema.properties,
  ...SharedStateConfigSchema.properties,
});

export type Config = Static<typeof ConfigSchema>;

/** Raised at start when a variable is invalid; the message names it. */
export class ConfigError extends Error {}

/**
 * `<NAME>_FILE`: the value read from a file (Docker and Kubernetes secrets, or a pool of
 * thousands of accounts, which one environment variable cannot hold: Linux caps one at 128 KiB).
 * One item per line or comma separated; blank lines and lines starting with `#` are skipped.
 */
function readValueFile(key: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}_FILE=${JSON.stringify(path)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .join(',');
}

/**
 * Builds the config from an environment-like record (`<NAME>_FILE` reads a variable from a
 * file): defaults filled in, strings converted, unknown keys ignored. Throws ConfigError naming
 * the first bad variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key];
    const file = env[`${key}_FILE`];
    if (file !== undefined && file !== '') {
      if (value !== undefined && value !== '') throw new ConfigError(`set ${key} or ${key}_FILE, not both`);
      raw[key] = readValueFile(key, file);
    } else if (value !== undefined && value !== '') raw[key] = value;
  }
  Object.assign(raw, overrides);
  const converted = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw));
  const first = Value.Errors(ConfigSchema, converted).First();
  const problem = describeConfigError(ConfigSchema, converted as Record<string, unknown>, first);
  if (problem) throw new ConfigError(`invalid ${problem.name}=${JSON.stringify(raw[problem.name] ?? '')}: ${problem.message}`);
  return converted as Config;
}

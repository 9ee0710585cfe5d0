import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import type { ValueError } from '@sinclair/typebox/value';

const Ms = (def: number, description: string) => Type.Integer({ minimum: 0, default: def, description });

/** Settings of the operational endpoints (metrics, load shedding, proxies); merged into ConfigSchema. */
export const OpsConfigSchema = Type.Object({
  ADMIN_KEY: Type.String({ default: '', description: 'enables GET /admin/accounts and POST /admin/accounts/:id/recheck behind Authorization: Bearer <key>' }),
  SHUTDOWN_GRACE_MS: Ms(25_000, 'on SIGTERM/SIGINT, how long requests in progress may finish before streams are ended with an error chunk'),
  METRICS_KEY: Type.String({ default: '', description: 'when set, GET /metrics needs Authorization: Bearer <key>' }),
  NONSTREAM_KEEPALIVE_MS: Ms(0, 'non-stream answers slower than this get their 200 early and a space every SSE_KEEPALIVE_MS; 0 = off'),
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: Ms(1000, 'shed load (503) when the event loop lags more than this; 0 = no limit'),
  PRESSURE_MAX_EVENT_LOOP_UTILIZATION: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'shed load above this event loop utilisation (0..1); 0 = no limit' }),
  PRESSURE_SAMPLE_INTERVAL_MS: Type.Integer({ minimum: 10, default: 1000, description: 'how often the load is measured' }),
  PRESSURE_RETRY_AFTER_S: Type.Integer({ minimum: 1, default: 10, description: 'Retry-After of a shed request' }),
});

/** Variables that must hold an absolute http(s) URL when set. */
const URL_VARIABLES = ['STEP_BASE_URL'];

function allowedValues(schema: TSchema | undefined): string[] | undefined {
  const options = (schema as { anyOf?: TSchema[] } | undefined)?.anyOf;
  if (!options?.every((o) => 'const' in o)) return undefined;
  return options.map((o) => String((o as unknown as { const: unknown }).const));
}

function badUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return undefined;
    return `must be an http:// or https:// URL, not ${url.protocol}`;
  } catch {
    return 'must be an absolute URL such as https://www.stepfun.com';
  }
}

/**
 * The first problem of a converted config, in words a operator can act on: the variable's name and,
 * for a choice, the allowed values (TypeBox alone says "Expected union value"); undefined when valid.
 */
export function describeConfigError(schema: TObject, converted: Record<string, unknown>, first: ValueError | undefined): { name: string; message: string } | undefined {
  if (first) {
    const name = first.path.replace(/^\//, '').split('/')[0] || 'config';
    const allowed = allowedValues(schema.properties[name]);
    return { name, message: allowed ? `must be one of ${allowed.join(', ')}` : first.message };
  }
  for (const name of URL_VARIABLES) {
    const message = badUrl(converted[name]);
    if (message) return { name, message };
  }
  return undefined;
}

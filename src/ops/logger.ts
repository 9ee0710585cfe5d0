import type { LoggerOptions } from 'pino';

/** Paths that may hold a StepChat token, cookie or API key; pino censors them wherever they appear. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'cookie',
  'token',
  'secret',
  '*.token',
  '*.secret',
  '*.cookie',
  '*.authorization',
  'cred.secret',
];

/** JSON lines; pretty (pino-pretty) when `pretty`, which the app sets when stdout is a terminal. */
export function loggerOptions(level: string, pretty = false): LoggerOptions {
  return { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, ...(pretty ? { transport: { target: 'pino-pretty' } } : {}) };
}

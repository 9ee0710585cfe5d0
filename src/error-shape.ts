import type { ErrorBody } from '../schemas/error.js';
import { scrubSecrets } from './scrub.js';

export interface ErrorReply {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'request_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
};

function typeFor(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500 && status !== 500) return 'upstream_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/**
 * Maps any error to the OpenAI error shape, its HTTP status and headers. Unknown errors become a
 * 500 whose message does not leak internals.
 */
export function toErrorReply(err: Error & { statusCode?: number; code?: string; validation?: unknown[]; validationContext?: string; retryAfter?: number }): ErrorReply {
  const headers: Record<string, string> = {};
  let status = err.statusCode ?? 500;
  let code: string | null = null;
  let param: string | null = null;
  let message = err.message;

  if (err.validation) {
    status = 400;
    code = 'invalid_request';
    const first = err.validation[0] as { instancePath?: string } | undefined;
    param = first?.instancePath ? first.instancePath.slice(1).replace(/\//g, '.') : null;
    message = `Invalid request: ${err.message}`;
  } else if (err.code && FASTIFY_CODES[err.code]) {
    ({ status, code } = FASTIFY_CODES[err.code]!);
  } else if (err.code?.startsWith('STEP_')) {
    code = err.code.slice(5).toLowerCase();
  } else if (err instanceof SyntaxError && status === 400) {
    code = 'invalid_json';
  } else if (status >= 500 || status < 400) {
    status = 500;
    code = 'internal_error';
    message = 'Internal server error';
  }

  // Last line of defence: messages that quote upstream text never carry a credential out, in the
  // body or in the log lines built from it.
  message = scrubSecrets(message);

  // Retrying cannot fix a bad request or a bad key; tell the openai SDKs not to.
  if (status < 500 && status !== 408 && status !== 409 && status !== 429) headers['x-should-retry'] = 'false';
  // A busy or failing pool knows when to come back (queue, cool-down, re-check); otherwise a short guess.
  if (status === 429 || (status === 503 && err.retryAfter !== undefined)) headers['retry-after'] = String(err.retryAfter ?? 2);
  return { status, headers, body: { error: { message, type: typeFor(status), param, code } } };
}

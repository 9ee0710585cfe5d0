import createError from '@fastify/error';
import { scrubSecrets } from './scrub.js';

/**
 * Domain errors, created once. Each carries an HTTP status; the error handler maps them to the
 * OpenAI error shape. Messages never include a token, cookie or key.
 */
export const BadRequestError = createError('STEP_BAD_REQUEST', '%s', 400);
export const MissingTokenError = createError(
  'STEP_MISSING_TOKEN',
  'Missing credentials: send "Authorization: Bearer deviceId@Oasis-Token" (several joined by commas)',
  401,
);
export const MalformedTokenError = createError('STEP_MALFORMED_TOKEN', '%s', 401);
/** More comma-joined tokens in one bearer value than MAX_TOKENS_PER_REQUEST: refused before any login. */
export const TooManyTokensError = createError('STEP_TOO_MANY_TOKENS', '%s', 400);
export const InvalidApiKeyError = createError('STEP_INVALID_API_KEY', 'Invalid API key', 401);
export const TokenRejectedError = createError('STEP_TOKEN_REJECTED', 'StepChat rejected the token: %s', 401);
export const TokensBusyError = createError('STEP_TOKENS_BUSY', 'Every StepChat token is busy; retry shortly', 429);
export const UpstreamRateLimitError = createError('STEP_UPSTREAM_RATE_LIMITED', 'StepChat is rate-limiting this account: %s', 429);
export const NoUsableTokenError = createError('STEP_NO_USABLE_TOKEN', 'No StepChat token is usable: %s', 503);
export const UpstreamError = createError('STEP_UPSTREAM', 'StepChat upstream error: %s', 502);
export const UpstreamTimeoutError = createError('STEP_UPSTREAM_TIMEOUT', 'StepChat did not answer in time: %s', 504);
/** The upstream said "unauthenticated" to a call made with a cached access token: refresh and retry. */
export const UpstreamAuthError = createError('STEP_UPSTREAM_UNAUTHENTICATED', 'StepChat session rejected: %s', 401);
/** A data URL, base64 payload, URL scheme or attachment count the service cannot take. */
export const AttachmentInvalidError = createError('STEP_ATTACHMENT_INVALID', '%s', 400);
/** The attachment's origin failed or timed out; the message names its host, never the query string. */
export const AttachmentFetchError = createError('STEP_ATTACHMENT_FETCH', 'Could not fetch the attachment from %s: %s', 400);
export const AttachmentTooLargeError = createError('STEP_ATTACHMENT_TOO_LARGE', 'Attachment %s is larger than the limit of %s bytes', 413);
/** The URL points at a loopback, private, link-local or metadata address (SSRF protection). */
export const AttachmentForbiddenError = createError('STEP_ATTACHMENT_FORBIDDEN', 'Attachment URL host %s is not allowed: %s', 400);
export const AttachmentUploadError = createError('STEP_ATTACHMENT_UPLOAD', 'StepChat did not accept the attachment: %s', 502);
/** The upstream says the prompt is longer than it takes: the client's problem, never retried on another account. */
export const ContextLengthError = createError('STEP_CONTEXT_LENGTH_EXCEEDED', 'The prompt is too long for StepChat: %s', 400);
/** The service is shutting down: new requests are refused, and answers still running at the end of the grace are cut. */
export const ShuttingDownError = createError('STEP_SHUTTING_DOWN', 'The service is shutting down; retry on another instance', 503);
/** The request bodies being received and held would exceed BODY_BUDGET_BYTES. */
export const BodyBudgetError = createError('STEP_BODY_BUDGET_EXCEEDED', 'the service is receiving too many large requests; retry after the Retry-After seconds', 503);
/** The client closed the connection; nothing is sent back. */
export const ClientGoneError = createError('STEP_CLIENT_GONE', 'client closed the connection', 499);

export const AdminKeyError = createError('STEP_INVALID_ADMIN_KEY', 'The admin routes need Authorization: Bearer <ADMIN_KEY>', 401);
export const UnknownAccountError = createError('STEP_UNKNOWN_ACCOUNT', 'No account of STEP_TOKENS has the id %s', 404);

/**
 * Upstream-provided text made safe to show: credentials scrubbed (the given `secrets`, cookies,
 * JWTs, opaque tokens; see scrub.ts), then cut to `max` characters.
 */
export function brief(text: unknown, max = 200, secrets: Iterable<string | undefined> = []): string {
  const s = scrubSecrets(typeof text === 'string' ? text : (JSON.stringify(text) ?? ''), secrets);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
/** response_format asked for JSON and the answer had none (or none that fits), even after one corrective turn. */
export const InvalidJsonOutputError = createError('STEP_INVALID_JSON_OUTPUT', 'The model did not answer with valid JSON for response_format: %s', 502);

/** What a removed secret is replaced with. */
export const REDACTED = '[redacted]';

const MIN_SECRET = 6;
// `Oasis-Token=…` and any other `name=value` whose value looks like a credential, up to a separator.
const OASIS = /Oasis-Token\s*[=:]\s*[^\s;,"'<>]*/gi;
const COOKIE_PAIR = /\b([A-Za-z][\w.-]{0,63})=([^\s;,"'<>&]{12,})/g;
// Three base64url segments, the first a JSON header: a JWT (access tokens are).
const JWT = /\beyJ[\w-]*\.[\w-]*(?:\.[\w-]*)?/g;
// Long opaque strings mixing letters and digits: refresh tokens, API keys, session ids.
const OPAQUE = /[A-Za-z0-9_+/-]{24,}={0,2}/g;
const MIXED = /(?=.*[A-Za-z])(?=.*\d)/;
const TAGS = /<(script|style)\b[\s\S]*?<\/\1\s*>|<[^>]*>/gi;

/**
 * Removes credentials from text that came from the upstream (error bodies, trailer and event
 * messages, HTML error pages) before it reaches a response, a log line or a metric: every given
 * secret (and each half of a `<access>...<refresh>` pair), `Oasis-Token=` and other cookie-shaped
 * pairs, JWTs and long opaque tokens. HTML is reduced to its text first.
 */
export function scrubSecrets(text: string, secrets: Iterable<string | undefined> = []): string {
  let out = /<\/?[a-z][^>]*>/i.test(text) ? text.replace(TAGS, ' ').replace(/\s+/g, ' ').trim() : text;
  const known = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    for (const part of [s, ...s.split('...')]) if (part.length >= MIN_SECRET) known.add(part);
  }
  // Longest first, so a pair goes whole before its halves are looked for.
  for (const secret of [...known].sort((a, b) => b.length - a.length)) out = out.split(secret).join(REDACTED);
  return out
    .replace(OASIS, `cookie ${REDACTED}`)
    .replace(JWT, REDACTED)
    .replace(COOKIE_PAIR, (_m, name: string) => `${name}=${REDACTED}`)
    .replace(OPAQUE, (m) => (MIXED.test(m) ? REDACTED : m));
}

/** The secrets a request's headers carry: each cookie value, and the authorization value. */
export function headerSecrets(headers: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const part of (headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.push(part.slice(eq + 1).trim());
  }
  if (headers.authorization) out.push(headers.authorization.replace(/^\w+\s+/, ''));
  return out;
}

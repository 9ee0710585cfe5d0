import type { IncomingHttpHeaders } from 'node:http';
import type { ConnectError } from './http-util.js';
import type { Dialect } from './types.js';

// The header set the StepChat web app sends on every upstream call (PROTOCOL.md, "Common request
// headers"), and the emulator's check of it: a call without one is refused the way the real
// service refuses it, so a gateway that drops a header on any call kind fails its suites.

/** A desktop browser's User-Agent, for the emulator's own test clients. */
export const DESKTOP_USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

/** The upstream's reply when an `oasis-*` header or the `Oasis-Webid` cookie is missing or wrong. */
const EMBEZZLED: ConnectError = { code: 'unauthenticated', message: 'oasis-token is embezzled' };

/** Every header the web app sends with a fixed value, by dialect (the cookie comes on top). */
export function webHeaders(dialect: Dialect, origin: string, deviceId: string): Record<string, string> {
  return {
    'connect-protocol-version': '1',
    'oasis-appid': '10200',
    'oasis-platform': 'web',
    'oasis-webid': deviceId,
    ...(dialect === 'capy' ? { 'oasis-language': 'zh', canary: 'false' } : { 'oasis-mode': '2' }),
    'x-waf-client-type': 'fetch_sdk',
    'user-agent': DESKTOP_USER_AGENT,
    origin,
    referer: `${origin}/`,
  };
}

function one(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

function cookie(headers: IncomingHttpHeaders, name: string): string | undefined {
  for (const part of one(headers, 'cookie').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * What is missing or wrong in a call's headers, one entry per header (empty when the call carries
 * the web app's full set). `origin` is the web app's, i.e. the one the call was sent to. The
 * `Oasis-Token` cookie is the session check's business (each dialect answers its own error).
 */
export function webHeaderProblems(headers: IncomingHttpHeaders, dialect: Dialect, origin: string): string[] {
  const problems: string[] = [];
  const deviceId = one(headers, 'oasis-webid');
  for (const [name, want] of Object.entries(webHeaders(dialect, origin, deviceId))) {
    const got = one(headers, name);
    const ok = name === 'user-agent' ? /^Mozilla\/5\.0 \((Windows|Macintosh|X11)/.test(got) : name === 'oasis-webid' ? got !== '' : got === want;
    if (!ok) problems.push(`${name}: ${JSON.stringify(got)}`);
  }
  const webid = cookie(headers, 'Oasis-Webid');
  if (webid !== deviceId || deviceId === '') problems.push(`cookie Oasis-Webid: ${JSON.stringify(webid ?? '')} (header ${JSON.stringify(deviceId)})`);
  return problems;
}

/**
 * How the upstream answers a call without the web app's headers, or undefined when it has them:
 * 400 without `Connect-Protocol-Version` (as a Connect server), 401 "embezzled" for the oasis
 * headers and cookies (PROTOCOL.md), 403 from the WAF for the browser ones (a guess: the real
 * answer is not recorded, only that such calls fail).
 */
export function webHeaderRefusal(
  headers: IncomingHttpHeaders,
  dialect: Dialect,
  origin: string,
): { status: number; body: ConnectError } | undefined {
  const problems = webHeaderProblems(headers, dialect, origin);
  if (problems.length === 0) return undefined;
  if (problems.some((p) => p.startsWith('connect-protocol-version'))) {
    return { status: 400, body: { code: 'invalid_argument', message: 'missing required header: set Connect-Protocol-Version to "1"' } };
  }
  if (problems.some((p) => /^(oasis-|canary|cookie )/.test(p))) return { status: 401, body: EMBEZZLED };
  return { status: 403, body: { code: 'permission_denied', message: `request blocked by the WAF: ${problems.join('; ')}` } };
}

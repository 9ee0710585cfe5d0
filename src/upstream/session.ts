import parseSetCookie from 'set-cookie-parser';
import { splitOasisPair } from '../accounts/credentials.js';
import { UpstreamError } from '../errors.js';
import type { Credential, Session } from './types.js';

/** The JSON reply of a refresh (yuewen RegisterDevice, capy RefreshToken). */
export interface TokenPair {
  accessToken?: { raw?: string };
  refreshToken?: { raw?: string };
}

/** Headers the StepChat web app sends on every call (omitting the oasis-* ones gets a 401). */
export function browserHeaders(origin: string, extra: Record<string, string>): Record<string, string> {
  return {
    accept: '*/*',
    'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8',
    'connect-protocol-version': '1',
    'oasis-appid': '10200',
    'oasis-platform': 'web',
    'x-waf-client-type': 'fetch_sdk',
    origin,
    referer: `${origin}/`,
    'user-agent':
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
    ...extra,
  };
}

/** Decodes a JWT's payload without verifying it; undefined when the token is not a JWT. */
export function jwtPayload(token: string): Record<string, unknown> | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return payload && typeof payload === 'object' ? payload : undefined;
  } catch {
    return undefined;
  }
}

/** When an access token expires: its JWT `exp` if it has one, else now + the assumed lifetime. */
export function accessExpiry(token: string, fallbackTtlMs: number, now = Date.now()): number {
  const exp = jwtPayload(token)?.exp;
  return typeof exp === 'number' && exp > 0 ? exp * 1000 : now + fallbackTtlMs;
}

/**
 * The session values a refresh hands out, kept as the browser's cookie jar keeps them: Set-Cookie
 * `Oasis-Token=<access>...<refresh>` (and a new `Oasis-Webid`, when sent) first, the JSON body's
 * pair otherwise; the access and refresh halves always come from the same place, so they are
 * replaced together.
 */
export function refreshedValues(body: TokenPair, setCookie: readonly string[]): { access?: string; refresh?: string; deviceId?: string } {
  // Not decoded: a browser's jar keeps and sends the value exactly as it was set.
  const jar = parseSetCookie(setCookie as string[], { map: true, decodeValues: false, silent: true });
  const cookiePair = jar['Oasis-Token']?.value ? splitOasisPair(jar['Oasis-Token'].value) : undefined;
  const deviceId = jar['Oasis-Webid']?.value || undefined;
  if (cookiePair?.access) return { access: cookiePair.access, refresh: cookiePair.refresh, deviceId };
  return { access: body.accessToken?.raw || undefined, refresh: body.refreshToken?.raw || undefined, deviceId };
}

/**
 * The session of an account after a refresh reply: `Cookie: Oasis-Token=<access>...<refresh>;
 * Oasis-Webid=<deviceId>` with the newest values, and what changed for the token pool to keep.
 */
export function refreshedSession(
  cred: Credential,
  reply: { body: TokenPair; setCookie: string[] },
  headersFor: (deviceId: string, oasisToken: string) => Record<string, string>,
  opts: { accessTtlMs: number; what: string },
): Session {
  const values = refreshedValues(reply.body, reply.setCookie);
  if (!values.access) throw new UpstreamError(`${opts.what} returned no access token`);
  const refresh = values.refresh || cred.secret;
  const deviceId = values.deviceId ?? cred.deviceId;
  return {
    account: cred.id,
    headers: headersFor(deviceId, `${values.access}...${refresh}`),
    expiresAt: accessExpiry(values.access, opts.accessTtlMs),
    rotatedSecret: refresh !== cred.secret ? refresh : undefined,
    access: values.access,
    ...(deviceId !== cred.deviceId ? { deviceId } : {}),
  };
}

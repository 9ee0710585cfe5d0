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

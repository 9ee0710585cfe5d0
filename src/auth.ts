import { timingSafeEqual } from 'node:crypto';
import { parseCredential, splitList } from './credentials.js';
import { InvalidApiKeyError, MalformedTokenError, MissingTokenError, TooManyTokensError } from './errors.js';
import type { Credential } from './upstream/types.js';

export interface ServerAccounts {
  /** The server-side pool (STEP_TOKENS), used when the client brings no StepChat token. */
  tokens: Credential[];
  /** Keys a client must present to use the server-side pool; empty = open. */
  apiKeys: string[];
}

function sameKey(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Parses `deviceId@token` entries; the error says which entry is wrong, never what it holds. */
export function parseCredentialList(text: string): Credential[] {
  const parts = splitList(text);
  const seen = new Map<string, Credential>();
  parts.forEach((part, i) => {
    const cred = parseCredential(part);
    if (!cred) {
      throw new MalformedTokenError(
        `Token ${i + 1} of ${parts.length} is not of the form deviceId@Oasis-Token (the deviceId from localStorage, "@", then the Oasis-Token cookie)`,
      );
    }
    seen.set(cred.id, cred);
  });
  return [...seen.values()];
}

/**
 * Which StepChat accounts a request may use: the tokens in its bearer value, or, when it brings
 * none, the server-side pool (guarded by API_KEYS when those are set).
 */
export function resolveCredentials(authorization: string | undefined, server: ServerAccounts, maxTokens = Infinity): Credential[] {
  const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
  const value = match?.[1]?.trim() ?? '';
  if (value.includes('@')) {
    // Each token may cost an upstream login: a value with thousands of them is refused unread.
    const count = splitList(value).length;
    if (count > maxTokens) throw new TooManyTokensError(`at most ${maxTokens} tokens per request, got ${count} (more accounts belong in STEP_TOKENS)`);
    return parseCredentialList(value);
  }
  if (server.tokens.length > 0) {
    if (server.apiKeys.length === 0) return server.tokens;
    if (!value) throw new MissingTokenError();
    if (server.apiKeys.some((k) => sameKey(k, value))) return server.tokens;
    throw new InvalidApiKeyError();
  }
  if (!value) throw new MissingTokenError();
  throw new MalformedTokenError('Token is not of the form deviceId@Oasis-Token (the deviceId from localStorage, "@", then the Oasis-Token cookie)');
}

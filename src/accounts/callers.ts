import createError from '@fastify/error';
import { timingSafeEqual } from 'node:crypto';
import { parseCredentialList } from './auth.js';
import { splitList } from './credentials.js';
import { InvalidApiKeyError, MalformedTokenError, MissingTokenError, TooManyTokensError } from '../errors.js';
import type { Credential } from '../upstream/types.js';

/** A client's StepChat token where the operator allows only API keys (ALLOW_CLIENT_TOKENS=false). */
export const ClientTokensDisabledError = createError(
  'STEP_CLIENT_TOKENS_DISABLED',
  'This gateway does not accept StepChat tokens from clients: use an API key of its operator',
  403,
);

/** One entry of API_KEYS: `name:key`, or a bare key named by its position (`key-1`, `key-2`, …). */
export interface ApiKey {
  name: string;
  key: string;
}

const NAMED = /^([A-Za-z0-9_.-]{1,64}):(.+)$/;

/** Parses API_KEYS; the error names the entry, never its key. */
export function parseApiKeys(text: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const names = new Set<string>();
  splitList(text).forEach((entry, i) => {
    const m = NAMED.exec(entry);
    const key = { name: m ? m[1]! : `key-${i + 1}`, key: m ? m[2]!.trim() : entry };
    if (!key.key) throw new Error(`API_KEYS entry ${i + 1} (${key.name}) has no key after the colon`);
    if (names.has(key.name)) throw new Error(`API_KEYS entry ${i + 1}: the name ${key.name} is used twice`);
    names.add(key.name);
    keys.push(key);
  });
  return keys;
}

function sameKey(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The bearer value of an Authorization header ('' when there is none). */
export function bearer(authorization: string | undefined): string {
  return /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '')?.[1]?.trim() ?? '';
}

/** The configured key the header presents; every key is compared, in constant time each. */
export function matchApiKey(keys: ApiKey[], authorization: string | undefined): ApiKey | undefined {
  const value = bearer(authorization);
  if (!value) return undefined;
  let found: ApiKey | undefined;
  for (const k of keys) if (sameKey(k.key, value) && !found) found = k;
  return found;
}

export interface CallerPolicy {
  /** The server-side pool (STEP_TOKENS). */
  tokens: Credential[];
  keys: ApiKey[];
  /** Whether a client may bring its own StepChat tokens while a pool exists. */
  allowClientTokens: boolean;
  /** Tokens one Authorization value may carry: each may cost an upstream login. */
  maxTokens?: number;
}

/** Who is calling: which accounts it uses, whether those are the pool, and its API key's name. */
export interface Caller {
  credentials: Credential[];
  pooled: boolean;
  keyName?: string;
}

const FORM = 'Token is not of the form deviceId@Oasis-Token (the deviceId from localStorage, "@", then the Oasis-Token cookie)';

/**
 * Resolves a request's Authorization header: the StepChat tokens it brings (unless the operator
 * refuses them), or the server pool behind one of API_KEYS (open when there are none).
 */
export function resolveCaller(authorization: string | undefined, policy: CallerPolicy): Caller {
  const value = bearer(authorization);
  if (value.includes('@')) {
    if (policy.tokens.length > 0 && !policy.allowClientTokens) throw new ClientTokensDisabledError();
    // A value with thousands of made-up tokens is refused unread.
    const count = splitList(value).length;
    const max = policy.maxTokens ?? Infinity;
    if (count > max) throw new TooManyTokensError(`at most ${max} tokens per request, got ${count} (more accounts belong in STEP_TOKENS)`);
    return { credentials: parseCredentialList(value), pooled: false };
  }
  if (policy.tokens.length > 0) {
    if (policy.keys.length === 0) return { credentials: policy.tokens, pooled: true };
    if (!value) throw new MissingTokenError();
    const key = matchApiKey(policy.keys, authorization);
    if (key) return { credentials: policy.tokens, pooled: true, keyName: key.name };
    throw new InvalidApiKeyError();
  }
  if (!value) throw new MissingTokenError();
  throw new MalformedTokenError(FORM);
}

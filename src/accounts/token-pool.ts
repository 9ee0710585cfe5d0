import { TokenRejectedError, UpstreamAuthError } from '../errors.js';
import type { CredentialStore } from './credential-store.js';
import type { CredentialShare, SharedJar } from '../shared-state/credential-share.js';
import type { Credential, Dialect, Session } from '../upstream/types.js';

export interface TokenPoolOptions {
  dialect: Dialect;
  /** Where rotated secrets survive restarts; optional. */
  store?: CredentialStore;
  /** Credentials shared with other replicas (REDIS_URL): newest jar, refresh under a lock. */
  share?: CredentialShare;
  refreshMarginMs: number;
  /** Concurrent completions allowed per token; 0 = unlimited. */
  /** How long a token the upstream rejected is tried last. */
  deadCooldownMs?: number;
  /** Idle entries kept at most (client-supplied tokens come and go). */
  maxEntries?: number;
  /** Logins of accounts never seen working that run at once (made-up tokens must not flood the upstream). */
  newLoginConcurrency?: number;
  /** How long a never-working token the upstream rejected is answered 401 without a new login. */
  rejectedTtlMs?: number;
  now?: () => number;
}

interface Entry {
  cred: Credential;
  /** The secret to log in with: the newest one the upstream handed out, else the user's. */
  current: Credential;
  session?: Session;
  refreshing?: Promise<Session>;
  /** The access token of the last session the upstream refused: a shared jar still holding it is no use. */
  staleAccess?: string;
  deadUntil: number;
  lastUsed: number;
  /** A login succeeded once (in this process, or a stored rotation says so). */
  known: boolean;
  /** Negative cache of a never-working token's rejection. */
  rejected?: { until: number; message: string };
}

/**
 * Orders accounts for the callers that pick one themselves (usable first, round-robin), caches each
 * account's access session, refreshes it before expiry with one shared in-flight refresh, and
 * retries a call once with a fresh session when the upstream says the cached one is stale.
 */
export function createTokenPool(opts: TokenPoolOptions) {
  const now = opts.now ?? Date.now;
  const deadCooldownMs = opts.deadCooldownMs ?? 60_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const entries = new Map<string, Entry>();
  const rejectedTtlMs = opts.rejectedTtlMs ?? 10_000;
  const limitNew = slots(opts.newLoginConcurrency ?? 4);
  let turn = 0;

  function entry(cred: Credential): Entry {
    let e = entries.get(cred.id);
    if (!e) {
      if (entries.size >= maxEntries) evictIdle();
      const stored = opts.store?.get(cred.id);
      const current = stored ? { ...cred, deviceId: stored.deviceId, secret: stored.secret, access: stored.access } : cred;
      e = { cred, current, deadUntil: 0, lastUsed: now(), known: stored !== undefined };
      entries.set(cred.id, e);
    }
    return e;
  }

  function evictIdle(): void {
    for (const [id, e] of entries) if (!e.refreshing) entries.delete(id);
  }

  /**
   * Accounts in the order they should be tried: usable before recently rejected, round-robin among
   * equals. How busy each is, and its health, is the scheduler's (src/accounts/scheduler.ts).
   */
  function candidates(creds: Credential[]): Credential[] {
    const t = now();
    const start = turn++ % Math.max(creds.length, 1);
    const ranked = creds.map((cred, i) => ({ cred, dead: entry(cred).deadUntil > t ? 1 : 0, rr: (i - start + creds.length) % creds.length }));
    ranked.sort((a, b) => a.dead - b.dead || a.rr - b.rr);
    return ranked.map((r) => r.cred);
  }

  /** A valid session for the account: cached, or one refresh shared by every concurrent caller. */
  function session(cred: Credential): Promise<Session> {
    const e = entry(cred);
    if (e.session && e.session.expiresAt - opts.refreshMarginMs > now()) return Promise.resolve(e.session);
    if (e.rejected && e.rejected.until > now() && !e.refreshing) return Promise.reject(new TokenRejectedError(e.rejected.message));
    if (!e.refreshing) {
      // Not tied to one caller's signal: other requests wait on the same refresh.
      e.refreshing = (opts.share ? sharedLogin(cred, e, opts.share) : login(cred, e)).finally(() => {
        e.refreshing = undefined;
      });
    }
    return e.refreshing;
  }

  /** The session another replica refreshed, when it is valid and not the one the upstream just refused. */
  function adopt(cred: Credential, e: Entry, jar: SharedJar | undefined): Session | undefined {
    if (!jar) return undefined;
    const deviceId = jar.deviceId ?? e.current.deviceId;
    if (jar.secret !== e.current.secret || jar.access !== e.current.access || deviceId !== e.current.deviceId) {
      e.current = { ...e.current, deviceId, secret: jar.secret, ...(jar.access ? { access: jar.access } : {}) };
      opts.store?.set(cred.id, deviceId, jar.secret, jar.access);
    }
    const s = jar.session;
    if (!s || s.expiresAt - opts.refreshMarginMs <= now() || (s.access !== undefined && s.access === e.staleAccess)) return undefined;
    e.session = { ...s, account: cred.id };
    e.deadUntil = 0;
    return e.session;
  }

  /** A refresh shared by the replicas: one of them logs in under the account's lock, the others read its jar. */
  async function sharedLogin(cred: Credential, e: Entry, share: CredentialShare): Promise<Session> {
    const found = adopt(cred, e, await share.get(cred.id));
    if (found) return found;
    return share.exclusive(cred.id, async (commit) => {
      const fresh = adopt(cred, e, await share.get(cred.id));
      if (fresh) return fresh;
      const s = await login(cred, e);
      await commit({ deviceId: e.current.deviceId, secret: e.current.secret, ...(e.current.access ? { access: e.current.access } : {}), session: { headers: s.headers, expiresAt: s.expiresAt, ...(s.access ? { access: s.access } : {}) } });
      return s;
    });
  }

  /** Logs the account in; a token never seen working waits for one of a bounded number of first logins. */
  function login(cred: Credential, e: Entry): Promise<Session> {
    const run = () => opts.dialect.login(e.current);
    return (e.known ? run() : limitNew(run))
      .then(
        (s) => {
          // Keep the pair as the browser's cookie jar does: the next refresh presents `<access>...<refresh>`.
          // A new device id (Set-Cookie Oasis-Webid) is replaced together with the tokens.
          const secret = s.rotatedSecret ?? e.current.secret;
          const deviceId = s.deviceId ?? e.current.deviceId;
          if (secret !== e.current.secret || s.access !== e.current.access || deviceId !== e.current.deviceId) {
            e.current = { ...e.current, deviceId, secret, access: s.access };
            opts.store?.set(cred.id, deviceId, secret, s.access);
          }
          e.session = { ...s, account: cred.id };
          e.deadUntil = 0;
          e.known = true;
          e.rejected = undefined;
          return e.session;
        },
        (err) => {
          if (err instanceof TokenRejectedError) e.deadUntil = now() + deadCooldownMs;
          if (err instanceof UpstreamAuthError) {
            e.deadUntil = now() + deadCooldownMs;
            const message = err.message.replace(/^StepChat session rejected: /, '');
            if (!e.known) e.rejected = { until: now() + rejectedTtlMs, message };
            throw new TokenRejectedError(message);
          }
          throw err;
        },
      );
  }

  /** Forgets a session the upstream refused, unless a newer one replaced it already. */
  function invalidate(cred: Credential, stale: Session): void {
    const e = entry(cred);
    e.staleAccess = stale.access;
    if (e.session === stale) e.session = undefined;
  }

  /** Runs `call` with the account's session; on a stale-session reply refreshes once and retries. */
  async function withSession<T>(cred: Credential, call: (s: Session) => Promise<T>): Promise<T> {
    const first = await session(cred);
    try {
      return await call(first);
    } catch (err) {
      // The upstream said the account itself is unusable (e.g. signed out): tried last for a while.
      if (err instanceof TokenRejectedError) entry(cred).deadUntil = now() + deadCooldownMs;
      if (!(err instanceof UpstreamAuthError)) throw err;
      invalidate(cred, first);
      const second = await session(cred);
      try {
        return await call(second);
      } catch (again) {
        if (again instanceof UpstreamAuthError) {
          invalidate(cred, second);
          entry(cred).deadUntil = now() + deadCooldownMs;
          throw new TokenRejectedError(again.message.replace(/^StepChat session rejected: /, ''));
        }
        throw again;
      }
    }
  }

  /** Whether the upstream accepts the account now (always a fresh login). */
  async function check(cred: Credential): Promise<boolean> {
    const e = entry(cred);
    // The shared jar's session would be no proof either.
    e.staleAccess = e.session?.access ?? e.staleAccess;
    e.session = undefined;
    e.rejected = undefined;
    try {
      await session(cred);
      return true;
    } catch (err) {
      if (err instanceof TokenRejectedError) return false;
      throw err;
    }
  }

  function stats() {
    return { accounts: entries.size };
  }

  return { candidates, session, invalidate, withSession, check, stats };
}

export type TokenPool = ReturnType<typeof createTokenPool>;

/** Runs at most `max` tasks at once; the rest wait in order (a slot passes straight to the next). */
function slots(max: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (active < max) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

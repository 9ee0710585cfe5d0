import { fingerprint } from '../accounts/credentials.js';
import type { SharedRedis } from './redis.js';

/** An account's newest cookie jar: the refresh token, and the access session that came with it. */
export interface SharedJar {
  /** The device id the upstream last set (Set-Cookie Oasis-Webid), when it changed it. */
  deviceId?: string;
  secret: string;
  access?: string;
  session?: { headers: Record<string, string>; expiresAt: number; access?: string };
}

/**
 * How replicas agree on an account's credentials (the token pool's optional `share`): the newest
 * jar is read by anyone, and a refresh runs under the account's lock so exactly one replica
 * presents a refresh token the upstream is about to rotate away.
 */
export interface CredentialShare {
  get(account: string): Promise<SharedJar | undefined>;
  /** Runs `fn` holding the account's refresh lock, waiting while another replica holds it; `commit` publishes the result. */
  exclusive<T>(account: string, fn: (commit: (jar: SharedJar) => Promise<void>) => Promise<T>): Promise<T>;
}

const LOCK_MS = 30_000;
const POLL_MS = 50;

// The lock's value is a fencing number from INCR: a holder whose lock expired (a stalled refresh)
// cannot overwrite a jar committed under a newer lock, nor release a lock that is not its own.
const COMMIT = `
local current = redis.call('GET', KEYS[1])
if current then
  local fence = tonumber(cjson.decode(current).fence or 0)
  if fence > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Credentials in Redis, keyed by dialect + upstream origin + account like the file store. While
 * Redis is unreachable the refresh runs without the lock on local state (nothing else can be
 * done); the jars this replica knows are written back when Redis returns, unless a newer one is there.
 */
export function createRedisCredentialShare(redis: SharedRedis, namespace: string): CredentialShare {
  const id = (account: string) => fingerprint(`${namespace}\n${account}`);
  const known = new Map<string, string>();
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  redis.onResync(async () => {
    for (const [key, value] of known) await redis.client.set(redis.key('cred', key), value, 'NX');
  });

  return {
    async get(account) {
      try {
        const text = await redis.client.get(redis.key('cred', id(account)));
        if (text) known.set(id(account), text);
        return text ? (JSON.parse(text) as SharedJar) : undefined;
      } catch {
        redis.failed();
        return undefined;
      }
    },
    async exclusive(account, fn) {
      const key = id(account);
      const lock = redis.key('lock', key);
      const local = async (jar: SharedJar) => void known.set(key, JSON.stringify({ ...jar, fence: 0 }));
      for (const deadline = Date.now() + LOCK_MS; ; ) {
        let fence: number;
        try {
          fence = await redis.client.incr(redis.key('fence', key));
          if ((await redis.client.set(lock, String(fence), 'PX', LOCK_MS, 'NX')) !== 'OK') {
            // Another replica refreshes: wait for it, then look at what it committed.
            if (Date.now() > deadline) return await fn(local);
            await sleep(POLL_MS);
            continue;
          }
        } catch {
          redis.failed();
          return await fn(local);
        }
        try {
          return await fn(async (jar) => {
            const value = JSON.stringify({ ...jar, fence });
            known.set(key, value);
            await redis.client.eval(COMMIT, 1, redis.key('cred', key), value, String(fence)).catch(() => redis.failed());
          });
        } finally {
          await redis.client.eval(RELEASE, 1, lock, String(fence)).catch(() => redis.failed());
        }
      }
    },
  };
}

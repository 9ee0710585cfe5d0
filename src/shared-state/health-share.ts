import type { HealthShare, SharedHealth } from '../accounts/health-sync.js';
import { fingerprint } from '../accounts/credentials.js';
import type { SharedRedis } from './redis.js';

const CHANNEL = 'health';
/** A dead account is forgotten after a day (then tried again); a cooling one 10 min after its back-off. */
const DEAD_KEEP_MS = 86_400_000;
const COOLING_KEEP_MS = 600_000;

interface Message {
  from: string;
  id: string;
  h: SharedHealth | null;
}

/**
 * Account health in Redis: a hash per account that is not healthy (state, until, streak, reason,
 * code; none when healthy), keyed by dialect + upstream origin + account. Each change is also
 * published, so the other replicas see it at once; they read the hash again after a short TTL.
 * Redis unreachable: each replica keeps its own view and writes its verdicts back when it returns.
 */
export function createRedisHealthShare(redis: SharedRedis, namespace: string): HealthShare {
  const key = (id: string) => redis.key('health', fingerprint(`${namespace}\n${id}`));

  function write(id: string, h: SharedHealth | undefined): Promise<unknown> {
    const message = JSON.stringify({ from: redis.replicaId, id, h: h ?? null } satisfies Message);
    const multi = redis.client.multi();
    if (!h) multi.del(key(id));
    else {
      const fields: Record<string, string> = { state: h.state, until: String(h.until), streak: String(h.streak) };
      if (h.reason) fields.reason = h.reason;
      if (h.code) fields.code = h.code;
      const keep = h.state === 'dead' ? DEAD_KEEP_MS : Math.max(h.until - Date.now(), 0) + COOLING_KEEP_MS;
      multi.del(key(id)).hset(key(id), fields).pexpire(key(id), keep);
    }
    return multi.publish(redis.channel(CHANNEL), message).exec();
  }

  return {
    put(id, h) {
      void write(id, h).catch(() => redis.failed());
    },
    async load(ids) {
      const pipeline = redis.client.pipeline();
      for (const id of ids) pipeline.hgetall(key(id));
      const rows = await pipeline.exec().catch(() => null);
      if (!rows || rows.some(([err]) => err)) {
        redis.failed();
        return undefined;
      }
      return rows.map(([, value]) => {
        const v = value as Record<string, string>;
        if (v.state !== 'cooling' && v.state !== 'dead') return null;
        return { state: v.state, until: Number(v.until) || 0, streak: Number(v.streak) || 0, reason: v.reason, code: v.code };
      });
    },
    onChange(fn) {
      redis.subscribe(CHANNEL, (text) => {
        let m: Message;
        try {
          m = JSON.parse(text) as Message;
        } catch {
          return;
        }
        if (m.from !== redis.replicaId && typeof m.id === 'string') fn(m.id, m.h);
      });
    },
    onResync(fn) {
      redis.onResync(async () => {
        for (const [id, h] of fn()) await write(id, h);
      });
    },
  };
}

import { fingerprint } from '../accounts/credentials.js';
import type { Result } from 'ioredis';
import type { SharedRedis } from './redis.js';

/**
 * The per-account concurrency slots every replica counts (the scheduler's optional `slots`): a
 * slot is held with a lease its replica renews, so a crashed replica's slots come back.
 */
export interface SlotShare {
  /**
   * Takes a slot of the first account in `ids` (best first) that has fewer than `max` holders on
   * all replicas: its index and the holder to release. 'full' when none has one free; 'local' when
   * Redis is unreachable (the caller counts on its own).
   */
  take(ids: string[], max: number): Promise<{ index: number; holder: string } | 'full' | 'local'>;
  /** A slot granted on the local count while Redis was unreachable: written to Redis when it returns. */
  adopt(id: string): string;
  release(id: string, holder: string): Promise<void>;
  /** Called when another replica released a slot (a waiter here may take it). */
  onFreed(fn: () => void): void;
  close(): void;
}

// Time from Redis itself, so the replicas' clocks never disagree on a lease. A sorted set per
// account: holders scored by lease expiry; the expired ones are dropped before counting.
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])`;
const TAKE = `${NOW}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) < tonumber(ARGV[2]) then
    redis.call('ZADD', key, now + lease, ARGV[3])
    redis.call('PEXPIRE', key, lease * 2)
    return i
  end
end
return 0`;
// Renewed unconditionally: a stream still open holds its slot, even in a Redis that restarted empty.
const RENEW = `${NOW}
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', key, lease * 2)
end
return 0`;
const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 0`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    slotTake(numKeys: number, ...keysAndArgs: string[]): Result<number, Context>;
    slotRenew(numKeys: number, ...keysAndArgs: string[]): Result<number, Context>;
    slotRelease(key: string, member: string, channel: string, from: string): Result<number, Context>;
  }
}

const FREED = 'slots-freed';

/**
 * Slots in Redis, one sorted set per account (keyed like the credentials, by dialect + upstream
 * origin + account), taken atomically by a Lua script. Held slots are renewed every `leaseMs / 3`;
 * a release is published so waiting replicas try again at once.
 */
export function createRedisSlotShare(redis: SharedRedis, namespace: string, leaseMs: number): SlotShare {
  const { client } = redis;
  client.defineCommand('slotTake', { lua: TAKE });
  client.defineCommand('slotRenew', { lua: RENEW });
  client.defineCommand('slotRelease', { lua: RELEASE, numberOfKeys: 1 });
  const key = (id: string) => redis.key('slots', fingerprint(`${namespace}\n${id}`));
  /** holder → account: what this replica holds, renewed while held. */
  const held = new Map<string, string>();
  let serial = 0;
  const holderId = () => `${redis.replicaId}:${++serial}`;

  async function renew(): Promise<void> {
    if (held.size === 0) return;
    const keys = [...held.values()].map(key);
    await client.slotRenew(keys.length, ...keys, String(leaseMs), ...held.keys());
  }
  const timer = setInterval(() => void renew().catch(() => redis.failed()), Math.max(Math.floor(leaseMs / 3), 50));
  timer.unref();
  redis.onResync(renew);

  return {
    async take(ids, max) {
      const holder = holderId();
      const keys = ids.map(key);
      let index: number;
      try {
        index = await client.slotTake(keys.length, ...keys, String(leaseMs), String(max), holder);
      } catch {
        redis.failed();
        return 'local';
      }
      if (index === 0) return 'full';
      held.set(holder, ids[index - 1]!);
      return { index: index - 1, holder };
    },
    adopt(id) {
      const holder = holderId();
      held.set(holder, id);
      return holder;
    },
    async release(id, holder) {
      held.delete(holder);
      await client.slotRelease(key(id), holder, redis.channel(FREED), redis.replicaId).catch(() => redis.failed());
    },
    onFreed(fn) {
      redis.subscribe(FREED, (from) => {
        if (from !== redis.replicaId) fn();
      });
    },
    close() {
      clearInterval(timer);
    },
  };
}

import { hostname } from 'node:os';
import type { Credential } from '../upstream/types.js';
import type { ChatJournal, JournalEntry } from './chat-journal.js';
import type { SharedRedis } from './redis.js';

interface Record {
  owner: string;
  cred: Credential;
}

// Claims a journal entry only if it still holds exactly what the sweeper read: two sweepers
// never both take one chat, and an entry renewed meanwhile is left alone.
const CLAIM = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0`;

/**
 * The chat journal of every replica in one Redis hash (chat id → owner and account). Each
 * replica holds a lease key it renews every `leaseMs / 3`; a sweeper claims the chats of owners
 * whose lease expired (a crashed replica) and deletes them. This replica's own entries are also
 * kept in memory, so they are written again when Redis returns after an outage.
 */
export function createRedisJournal(redis: SharedRedis, leaseMs: number): ChatJournal & { renew(): Promise<void> } {
  const hash = redis.key('chats');
  const leaseKey = (owner: string) => redis.key('replica', owner);
  const own = new Map<string, string>();
  const me = redis.replicaId;
  const run = (p: Promise<unknown>) => void p.catch(() => redis.failed());

  async function renew(): Promise<void> {
    await redis.client.set(leaseKey(me), `${hostname()}:${process.pid}`, 'PX', leaseMs);
  }

  // At once: until the first lease exists another replica's sweeper would take this one for dead.
  run(renew());
  const timer = setInterval(() => run(renew()), Math.max(Math.floor(leaseMs / 3), 50));
  timer.unref();
  redis.onResync(async () => {
    await renew();
    if (own.size > 0) await redis.client.hset(hash, Object.fromEntries(own));
  });

  function record(cred: Credential): string {
    const { id, deviceId, secret, access } = cred;
    return JSON.stringify({ owner: me, cred: { id, deviceId, secret, ...(access ? { access } : {}) } } satisfies Record);
  }

  return {
    renew,
    add(cred, chatId) {
      const value = record(cred);
      own.set(chatId, value);
      run(redis.client.hset(hash, chatId, value));
    },
    remove(chatId) {
      own.delete(chatId);
      run(redis.client.hdel(hash, chatId));
    },
    disown(chatId) {
      // Its entry names the new owner already (it journaled the chat when it took it).
      own.delete(chatId);
    },
    async claimOrphans() {
      if (!redis.up) return [];
      const all = await redis.client.hgetall(hash);
      const owners = new Map<string, boolean>();
      const claimed: JournalEntry[] = [];
      for (const [chatId, value] of Object.entries(all)) {
        let rec: Record;
        try {
          rec = JSON.parse(value) as Record;
        } catch {
          continue;
        }
        if (rec.owner === me) continue;
        if (!owners.has(rec.owner)) owners.set(rec.owner, (await redis.client.exists(leaseKey(rec.owner))) === 1);
        if (owners.get(rec.owner)) continue;
        const mine = record(rec.cred);
        if ((await redis.client.eval(CLAIM, 1, hash, chatId, value, mine)) !== 1) continue;
        own.set(chatId, mine);
        claimed.push({ chatId, cred: rec.cred });
      }
      return claimed;
    },
    async close() {
      clearInterval(timer);
      // Entries still here (deletions that failed) go to whoever sweeps next.
      await redis.client.del(leaseKey(me)).catch(() => redis.failed());
    },
  };
}

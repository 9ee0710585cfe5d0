import type { Credential } from '../upstream/types.js';
import type { SharedRedis } from './redis.js';

/** A kept upstream chat as the replicas share it. */
export interface SharedConversation {
  cred: Credential;
  chatId: string;
  /** Lookup keys (history hash or conversation reply ids). */
  keys: string[];
  /** Which keeping this is: a replica holding an older one of the same chat must not claim it. */
  stamp: string;
}

/**
 * Kept conversations shared by the replicas (src/openai/conversations.ts's optional `share`): a chat is
 * taken by exactly one of them, whoever claims it first; one that lost the claim must neither
 * continue nor delete it.
 */
export interface ConversationShare {
  put(kept: SharedConversation, ttlMs: number): Promise<void>;
  /** Whether some replica keeps a chat under this key (nothing is claimed). */
  has(key: string): Promise<boolean>;
  /** Takes the chat kept under `key` out of the store; undefined when there is none. */
  claimByKey(key: string): Promise<SharedConversation | undefined>;
  /** Takes this keeping of the chat out of the store; false when another replica took it (and maybe kept it anew). */
  claim(chatId: string, stamp: string): Promise<boolean>;
}

// One script for both claims: the record and all its key mappings go at once, so two replicas
// never both get it.
const CLAIM = `
local id = ARGV[2]
if id == '' then
  id = redis.call('GET', ARGV[1] .. 'key:' .. KEYS[1])
  if not id then return false end
end
local chat = ARGV[1] .. 'chat:' .. id
local record = redis.call('GET', chat)
if not record then return false end
local decoded = cjson.decode(record)
if ARGV[3] ~= '' and decoded.stamp ~= ARGV[3] then return false end
redis.call('DEL', chat)
for _, key in ipairs(decoded.keys) do redis.call('DEL', ARGV[1] .. 'key:' .. key) end
return record`;

/** Kept conversations in Redis, expiring with CONVERSATION_TTL_MS. Redis unreachable: every replica keeps its own. */
export function createRedisConversationShare(redis: SharedRedis): ConversationShare {
  const base = redis.key('conv', '');
  const claimScript = (key: string, chatId: string, stamp: string) => redis.client.eval(CLAIM, 1, key, base, chatId, stamp) as Promise<string | null>;
  return {
    async put(kept, ttlMs) {
      const { id, deviceId, secret, access } = kept.cred;
      const record = JSON.stringify({ chatId: kept.chatId, keys: kept.keys, stamp: kept.stamp, cred: { id, deviceId, secret, ...(access ? { access } : {}) } });
      // Outlives the keeper's own idle timer, so the keeper always finds it there to delete.
      const px = ttlMs + 60_000;
      const multi = redis.client.multi().set(`${base}chat:${kept.chatId}`, record, 'PX', px);
      for (const key of kept.keys) multi.set(`${base}key:${key}`, kept.chatId, 'PX', px);
      await multi.exec().catch(() => redis.failed());
    },
    async has(key) {
      return (await redis.client.exists(`${base}key:${key}`).catch(() => (redis.failed(), 0))) === 1;
    },
    async claimByKey(key) {
      const record = await claimScript(key, '', '').catch(() => (redis.failed(), null));
      return record ? (JSON.parse(record) as SharedConversation) : undefined;
    },
    async claim(chatId, stamp) {
      try {
        return (await claimScript('-', chatId, stamp)) !== null;
      } catch {
        // Unreachable: the chat is this replica's to handle, as without Redis.
        redis.failed();
        return true;
      }
    },
  };
}

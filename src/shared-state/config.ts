import { Type } from '@sinclair/typebox';

/** Settings of the state replicas share (merged into ConfigSchema). */
export const SharedStateConfigSchema = Type.Object({
  REDIS_URL: Type.String({
    default: '',
    pattern: '^(rediss?://.+)?$',
    description: 'redis:// or rediss:// URL of the Redis replicas share state through; empty: everything in process and DATA_DIR',
  }),
  REDIS_KEY_PREFIX: Type.String({ default: 'step-gateway:', description: 'put before every Redis key' }),
  REPLICA_LEASE_MS: Type.Integer({ minimum: 1000, default: 10_000, description: 'a replica silent this long is dead: its chats are deleted, its slots freed' }),
});

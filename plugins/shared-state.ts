import fp from 'fastify-plugin';
import type { SharedRedis } from '../src/shared-state/redis.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redis replicas share state through (REDIS_URL); undefined when the service runs alone. */
    sharedRedis: SharedRedis | undefined;
  }
}

/** Connects to REDIS_URL when set; a Redis that is down never stops the service from starting. */
export default fp(
  async (app) => {
    const { config } = app;
    if (!config.REDIS_URL) {
      app.decorate('sharedRedis', undefined);
      return;
    }
    // Loaded only here: ioredis is ≈ 40 modules a service without REDIS_URL never runs.
    const { createSharedRedis } = await import('../src/shared-state/redis.js');
    const redis = createSharedRedis({ url: config.REDIS_URL, prefix: config.REDIS_KEY_PREFIX, log: app.log });
    await redis.connect();
    app.decorate('sharedRedis', redis);
    app.addHook('onClose', () => redis.close());
  },
  { name: 'shared-state', dependencies: ['config'] },
);

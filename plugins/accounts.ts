import fp from 'fastify-plugin';
import { createAccountHealth } from '../src/accounts/health.js';
import { createRechecker } from '../src/accounts/recheck.js';
import { createScheduler } from '../src/accounts/scheduler.js';
import { createRedisHealthShare } from '../src/shared-state/health-share.js';
import { createRedisSlotShare } from '../src/shared-state/slot-share.js';

declare module 'fastify' {
  interface FastifyInstance {
    accountHealth: ReturnType<typeof createAccountHealth>;
    scheduler: ReturnType<typeof createScheduler>;
    rechecker: ReturnType<typeof createRechecker>;
  }
}

/** Account health (healthy, cooling, dead), the scheduler that picks accounts, and the background re-check of dead ones. */
export default fp(
  async (app) => {
    const { config } = app;
    const redis = app.sharedRedis;
    // Keyed like the credentials: one account against one upstream.
    const namespace = `${config.STEP_DIALECT}\n${app.upstream.http.origin}`;
    const health = createAccountHealth({
      minBackoffMs: config.ACCOUNT_BACKOFF_MIN_MS,
      maxBackoffMs: config.ACCOUNT_BACKOFF_MAX_MS,
      ...(redis ? { share: createRedisHealthShare(redis, namespace) } : {}),
    });
    for (const cred of app.serverAccounts.tokens) health.register(cred.id, cred.deviceId);
    // Slots in Redis only where there is a limit to count.
    const slots = redis && config.TOKEN_MAX_CONCURRENCY > 0 ? createRedisSlotShare(redis, namespace, config.REPLICA_LEASE_MS) : undefined;
    const scheduler = createScheduler({
      health,
      maxConcurrency: config.TOKEN_MAX_CONCURRENCY,
      recheckMs: config.ACCOUNT_RECHECK_MS,
      queueTimeoutMs: config.TOKEN_QUEUE_TIMEOUT_MS,
      ...(slots ? { slots } : {}),
    });
    const rechecker = createRechecker({ pool: app.tokenPool, health, creds: app.serverAccounts.tokens, intervalMs: config.ACCOUNT_RECHECK_MS, log: app.log });
    app.decorate('accountHealth', health);
    app.decorate('scheduler', scheduler);
    app.decorate('rechecker', rechecker);
    app.addHook('onReady', async () => rechecker.start());
    app.addHook('onClose', async () => {
      await rechecker.stop();
      slots?.close();
    });
  },
  { name: 'accounts', dependencies: ['config', 'token-pool', 'shared-state', 'upstream-client'] },
);

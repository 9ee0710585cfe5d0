import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import fp from 'fastify-plugin';
import { ErrorSchema } from '../schemas/error.js';
import { createMetrics, instrumentDialect } from '../src/ops/metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ReturnType<typeof createMetrics>;
  }
}

const metricsPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const metrics = createMetrics();
  app.decorate('metrics', metrics);
  instrumentDialect(app.upstream.dialect, metrics);
  app.upstream.drift.onUnknownEvent((event) => metrics.unknownEvents.inc({ event }));
  const redis = app.sharedRedis;
  if (redis) {
    metrics.registry.registerMetric(metrics.redisUp);
    metrics.registry.registerMetric(metrics.redisErrors);
  }
  metrics.onScrape(() => {
    if (redis) {
      metrics.redisUp.set(redis.up ? 1 : 0);
      metrics.redisErrors.set(redis.stats().errors);
    }
    metrics.chatsPendingDeletion.set(app.chatJanitor.stats().pending);
    metrics.accounts.set({ state: 'configured' }, app.serverAccounts.tokens.length);
    metrics.accounts.set({ state: 'known' }, app.tokenPool.stats().accounts);
    const states = { healthy: 0, cooling: 0, dead: 0 };
    for (const cred of app.serverAccounts.tokens) states[app.accountHealth.state(cred.id)]++;
    for (const [state, n] of Object.entries(states)) metrics.accounts.set({ state }, n);
    metrics.queuedRequests.set(app.scheduler.queued());
  });

  // On the raw response, so hijacked replies (SSE streams) are counted when they end too.
  app.addHook('onRequest', async (request, reply) => {
    reply.raw.once('close', () => {
      const route = request.routeOptions.url ?? 'unmatched';
      const status = reply.raw.writableFinished ? String(reply.raw.statusCode) : 'aborted';
      metrics.httpRequests.inc({ method: request.method, route, status });
    });
  });

  const key = app.config.METRICS_KEY;
  app.get(
    '/metrics',
    { schema: { response: { 200: Type.String(), 401: ErrorSchema } }, config: { pressureHandler: () => undefined } },
    async (request, reply) => {
      if (key && request.headers.authorization !== `Bearer ${key}`) {
        return reply.code(401).send({ error: { message: 'GET /metrics needs Authorization: Bearer <METRICS_KEY>', type: 'invalid_request_error', param: null, code: 'invalid_metrics_key' } });
      }
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  );
};

/** Prometheus series (prom-client) at GET /metrics, optionally behind METRICS_KEY. */
export default fp(metricsPlugin, { name: 'metrics', dependencies: ['config', 'upstream-client', 'token-pool', 'accounts', 'shared-state'] });

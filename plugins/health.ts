import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set to true when the service stops taking new work (shutdown): /readyz then answers 503. */
    draining: boolean;
  }
}

const Status = Type.Object({ status: Type.String(), reason: Type.Optional(Type.String()) });
// Probes must answer while load is shed: a saturated instance is alive, and its readiness says so itself.
const probeConfig = { pressureHandler: () => undefined };

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.decorate('draining', false);

  /** A server pool is ready when at least one of its accounts gets a session (cached or new). */
  async function usableAccount(): Promise<boolean> {
    for (const cred of app.serverAccounts.tokens) {
      // A dead or cooling account is left to its re-check: probes must not hammer it.
      if (!app.accountHealth.eligible(cred.id)) continue;
      const ok = await app.tokenPool.withSession(cred, async () => true).catch((err: unknown) => {
        app.accountHealth.failed(cred.id, err);
        return false;
      });
      if (ok) return true;
    }
    return false;
  }

  app.get('/healthz', { schema: { response: { 200: Status } }, config: probeConfig }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { response: { 200: Status, 503: Status } }, config: probeConfig }, async (_request, reply) => {
    if (app.draining) return reply.code(503).send({ status: 'unavailable', reason: 'draining' });
    if (app.serverAccounts.tokens.length > 0 && !(await usableAccount())) {
      return reply.code(503).send({ status: 'unavailable', reason: 'no usable StepChat account in STEP_TOKENS' });
    }
    // Still serving, on local state: a balancer must not take every replica out for a Redis outage.
    if (app.sharedRedis && !app.sharedRedis.up) return { status: 'degraded', reason: 'Redis unreachable: working on local state' };
    return { status: 'ready' };
  });
};

/** GET /healthz (the process answers) and GET /readyz (config loaded, an account usable, not draining). */
export default fp(health, { name: 'health', dependencies: ['config', 'token-pool', 'accounts', 'shared-state'] });

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { AdminAccountSchema, AdminStatusSchema, type AdminAccount } from '../schemas/admin.js';
import { ErrorResponses } from '../schemas/error.js';
import { bearer } from '../src/accounts/callers.js';
import { AdminKeyError, UnknownAccountError } from '../src/errors.js';
import type { Credential } from '../src/upstream/types.js';

// Operators look here when the pool misbehaves: answer even while load is shed.
const routeConfig = { pressureHandler: () => undefined, rateLimit: false as const };

/** GET /admin/accounts and POST /admin/accounts/:id/recheck, behind ADMIN_KEY; absent without it. */
const admin: FastifyPluginAsyncTypebox = async (app) => {
  const adminKey = Buffer.from(app.config.ADMIN_KEY);
  if (adminKey.length === 0) return;

  async function checkKey(request: FastifyRequest): Promise<void> {
    const given = Buffer.from(bearer(request.headers.authorization));
    if (given.length !== adminKey.length || !timingSafeEqual(given, adminKey)) throw new AdminKeyError();
  }

  const account = (cred: Credential): AdminAccount => ({
    ...app.accountHealth.view(cred.id),
    inflight: app.scheduler.inflight(cred.id),
    queued: app.scheduler.queued(cred.id),
  });

  app.get(
    '/admin/accounts',
    { schema: { response: { 200: AdminStatusSchema, ...ErrorResponses }, security: [{ bearer: [] }] }, preHandler: checkKey, config: routeConfig },
    async () => {
      const accounts = app.serverAccounts.tokens.map(account);
      const states = { healthy: 0, cooling: 0, dead: 0 };
      for (const a of accounts) states[a.state]++;
      const streams = (await app.metrics.activeStreams.get()).values[0]?.value ?? 0;
      return { accounts, states, queued: app.scheduler.queued(), activeStreams: streams, draining: app.draining, keys: app.keyStats.view() };
    },
  );

  app.post(
    '/admin/accounts/:id/recheck',
    {
      schema: { params: Type.Object({ id: Type.String() }), response: { 200: AdminAccountSchema, ...ErrorResponses }, security: [{ bearer: [] }] },
      preHandler: checkKey,
      config: routeConfig,
    },
    async (request) => {
      const cred = app.serverAccounts.tokens.find((c) => c.id === request.params.id);
      if (!cred) throw new UnknownAccountError(request.params.id.slice(0, 40));
      await app.rechecker.recheck(cred);
      return account(cred);
    },
  );
};

export default admin;

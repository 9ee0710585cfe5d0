import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { resolveCredentials } from '../src/auth.js';
import type { Credential } from '../src/upstream/types.js';

declare module 'fastify' {
  interface FastifyRequest {
    credentials: Credential[];
  }
  interface FastifyInstance {
    authenticate(request: FastifyRequest): Promise<void>;
  }
}

/** `preHandler: app.authenticate` resolves which StepChat accounts a request uses, or answers 401. */
export default fp(
  async (app) => {
    app.decorateRequest('credentials', null as unknown as Credential[]);
    app.decorate('authenticate', async function authenticate(request: FastifyRequest) {
      request.credentials = resolveCredentials(request.headers.authorization, app.serverAccounts, app.config.MAX_TOKENS_PER_REQUEST);
    });
  },
  { name: 'auth', dependencies: ['token-pool'] },
);

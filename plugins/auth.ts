import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { resolveCaller } from '../src/accounts/callers.js';
import type { Credential } from '../src/upstream/types.js';

declare module 'fastify' {
  interface FastifyRequest {
    credentials: Credential[];
    /** The name of the API key the request presented (server pool), if any. */
    apiKeyName: string | undefined;
  }
  interface FastifyInstance {
    authenticate(request: FastifyRequest): Promise<void>;
  }
}

/** `preHandler: app.authenticate` resolves which StepChat accounts a request uses, or answers 401. */
export default fp(
  async (app) => {
    app.decorateRequest('credentials', null as unknown as Credential[]);
    app.decorateRequest('apiKeyName', undefined);
    const policy = { tokens: app.serverAccounts.tokens, keys: app.apiKeys, allowClientTokens: app.config.ALLOW_CLIENT_TOKENS, maxTokens: app.config.MAX_TOKENS_PER_REQUEST };
    app.decorate('authenticate', async function authenticate(request: FastifyRequest) {
      const caller = resolveCaller(request.headers.authorization, policy);
      request.credentials = caller.credentials;
      request.apiKeyName = caller.keyName;
      if (caller.keyName) app.keyStats.request(caller.keyName);
    });
  },
  { name: 'auth', dependencies: ['token-pool'] },
);

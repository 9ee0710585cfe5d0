import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorResponses } from '../schemas/error.js';
import { ModelListSchema } from '../schemas/models.js';
import { resolveCaller } from '../src/accounts/callers.js';
import type { Credential } from '../src/upstream/types.js';

/** GET /v1/models in the OpenAI list shape. */
const models: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/v1/models', { schema: { response: { 200: ModelListSchema, ...ErrorResponses } } }, async (request) => {
    // Listing needs no credentials; with usable ones the upstream's own list is asked for.
    let creds: Credential[] = [];
    try {
      const caller = resolveCaller(request.headers.authorization, { tokens: app.serverAccounts.tokens, keys: app.apiKeys, allowClientTokens: app.config.ALLOW_CLIENT_TOKENS });
      // A dead or cooling pool account is left to its re-check: listing models must not log it in.
      creds = caller.pooled ? caller.credentials.filter((c) => app.accountHealth.eligible(c.id)) : caller.credentials;
    } catch {
      creds = [];
    }
    return app.modelCatalog.list(creds);
  });
};

export default models;

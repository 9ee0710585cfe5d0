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
      creds = resolveCaller(request.headers.authorization, { tokens: app.serverAccounts.tokens, keys: app.apiKeys, allowClientTokens: app.config.ALLOW_CLIENT_TOKENS }).credentials;
    } catch {
      creds = [];
    }
    return app.modelCatalog.list(creds);
  });
};

export default models;

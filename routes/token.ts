import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorResponses } from '../schemas/error.js';
import { TokenCheckRequestSchema, TokenCheckResponseSchema } from '../schemas/token.js';
import { parseCredential } from '../src/accounts/credentials.js';
import { scrubSecrets } from '../src/scrub.js';

/** POST /token/check: whether StepChat accepts a `deviceId@token` right now. */
const token: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/token/check',
    { schema: { body: TokenCheckRequestSchema, response: { 200: TokenCheckResponseSchema, ...ErrorResponses } } },
    async (request) => {
      const cred = parseCredential(request.body.token.trim());
      try {
        return { live: cred ? await app.tokenPool.check(cred) : false };
      } catch (err) {
        // The checked token, its rotated successor, anything cookie-shaped: never echoed back.
        if (err instanceof Error) err.message = scrubSecrets(err.message, [request.body.token, cred?.secret, cred?.access]);
        throw err;
      }
    },
  );
};

export default token;

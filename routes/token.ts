import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorResponses } from '../schemas/error.js';
import { TokenCheckRequestSchema, TokenCheckResponseSchema } from '../schemas/token.js';
import { parseCredential } from '../src/credentials.js';

/** POST /token/check: whether StepChat accepts a `deviceId@token` right now. */
const token: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/token/check',
    { schema: { body: TokenCheckRequestSchema, response: { 200: TokenCheckResponseSchema, ...ErrorResponses } } },
    async (request) => {
      const cred = parseCredential(request.body.token.trim());
      return { live: cred ? await app.tokenPool.check(cred) : false };
    },
  );
};

export default token;

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorResponses } from '../schemas/error.js';
import { ModelListSchema } from '../schemas/models.js';
import { listModels } from '../src/models.js';

/** GET /v1/models in the OpenAI list shape. */
const models: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/v1/models', { schema: { response: { 200: ModelListSchema, ...ErrorResponses } } }, async () => listModels());
};

export default models;

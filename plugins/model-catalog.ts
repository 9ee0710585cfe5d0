import fp from 'fastify-plugin';
import { createModelCatalog } from '../src/openai/models.js';

declare module 'fastify' {
  interface FastifyInstance {
    modelCatalog: ReturnType<typeof createModelCatalog>;
  }
}

/** Which models clients may name, and how a name maps to an upstream model and switches. */
export default fp(
  async (app) => {
    app.decorate(
      'modelCatalog',
      createModelCatalog({
        dialect: app.upstream.dialect,
        pool: app.tokenPool,
        refreshMs: app.config.MODELS_REFRESH_MS,
        defaultModel: app.config.DEFAULT_MODEL,
        log: app.log,
        drift: app.upstream.drift,
      }),
    );
  },
  { name: 'model-catalog', dependencies: ['config', 'upstream-client', 'token-pool'] },
);

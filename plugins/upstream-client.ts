import fp from 'fastify-plugin';
import { createUpstream } from '../src/upstream/client.js';

declare module 'fastify' {
  interface FastifyInstance {
    upstream: ReturnType<typeof createUpstream>;
  }
}

export default fp(
  async (app) => {
    const upstream = createUpstream(app.config, app.log);
    app.decorate('upstream', upstream);
    // Runs after the token pool's onClose (hooks run in reverse), so pending chat deletions finish first.
    app.addHook('onClose', async () => {
      await upstream.http.close();
    });
  },
  { name: 'upstream-client', dependencies: ['config'] },
);

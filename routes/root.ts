import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { playgroundHtml, PLAYGROUND_JS } from './playground-page.js';

/** GET / (the playground: what this is, and a token tried in the browser) and GET /ping (liveness). */
const root: FastifyPluginAsyncTypebox<{ demoToken?: string }> = async (app, opts) => {
  const page = playgroundHtml(opts.demoToken);
  app.get('/', { schema: { response: { 200: Type.String() } } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
  app.get('/playground.js', { schema: { hide: true } }, async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(PLAYGROUND_JS));
  app.get('/ping', { schema: { response: { 200: Type.String() } } }, async (_request, reply) => reply.type('text/plain; charset=utf-8').send('pong'));
};

export default root;

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify';
import fp from 'fastify-plugin';

const TOKEN = '267bcc81a01c2032a11a3fc6ec3e372c380eb9d1@eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...';

/** What each route is for, with an example, merged into the generated document (the route files stay short). */
const DOCS: Record<string, { summary: string; description: string; tags: string[]; example?: unknown }> = {
  'POST /v1/chat/completions': {
    summary: 'Create a chat completion',
    description: 'OpenAI Chat Completions. `"stream": true` answers Server-Sent Events (`data: {chunk}` lines, then `data: [DONE]`); otherwise one `chat.completion` object. Authorization: `Bearer deviceId@Oasis-Token` (several comma-separated) or one of API_KEYS.',
    tags: ['OpenAI'],
    example: { model: 'step', stream: true, messages: [{ role: 'user', content: 'Hello' }] },
  },
  'GET /v1/models': { summary: 'List models', description: 'Model names this service accepts, in the OpenAI list shape.', tags: ['OpenAI'] },
  'POST /token/check': { summary: 'Check a StepChat token', description: 'Whether StepChat still accepts the token (asks it for a new access token).', tags: ['StepChat'], example: { token: TOKEN } },
  'GET /': { summary: 'Playground', description: 'A page to try a token in the browser, and how to call the API.', tags: ['Service'] },
  'GET /ping': { summary: 'Ping', description: 'Answers `pong`.', tags: ['Service'] },
  'GET /healthz': { summary: 'Liveness', description: 'The process answers.', tags: ['Operations'] },
  'GET /readyz': { summary: 'Readiness', description: '503 while draining or when no account of STEP_TOKENS is usable.', tags: ['Operations'] },
  'GET /metrics': { summary: 'Prometheus metrics', description: 'Text exposition format; `Authorization: Bearer <METRICS_KEY>` when METRICS_KEY is set.', tags: ['Operations'] },
  'GET /openapi.json': { summary: 'This document', description: 'OpenAPI 3 generated from the route schemas.', tags: ['Operations'] },
};

/**
 * The document and the UI, built on the first request for either in an instance of their own that
 * has the app's routes (schemas only): @fastify/swagger, swagger-ui, @fastify/static and YAML are
 * ≈ 140 modules and 2 MB of live heap an idle service, or one nobody reads the docs of, never needs.
 */
async function buildDocs(routes: readonly RouteOptions[]): Promise<FastifyInstance> {
  const [{ default: swagger }, { default: swaggerUi }] = await Promise.all([import('@fastify/swagger'), import('@fastify/swagger-ui')]);
  const docs = Fastify();
  // Only documented, never called: no validators or serializers to compile.
  docs.setValidatorCompiler(() => () => true);
  docs.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await docs.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'step-gateway', description: 'OpenAI-compatible gateway to StepChat', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: ({ schema, url, route }) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const doc = DOCS[`${methods[0]} ${url}`];
      if (!doc) return { schema, url };
      const { example, ...text } = doc;
      const body = schema?.body && example !== undefined ? { ...(schema.body as object), examples: [example] } : schema?.body;
      return { schema: { ...schema, ...text, ...(body ? { body } : {}) }, url };
    },
  });
  await docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { tryItOutEnabled: true } });
  for (const r of routes) docs.route({ method: r.method, url: r.url, schema: r.schema, handler: async () => undefined });
  await docs.ready();
  return docs;
}

/** OpenAPI 3 from the TypeBox route schemas at GET /openapi.json, interactive docs at GET /docs. */
export default fp(
  async (app) => {
    // Before the routes: every route registered after this plugin is documented.
    const routes: RouteOptions[] = [];
    app.addHook('onRoute', (route) => {
      // The UI's own routes below are the docs instance's (hidden there, as the plugin registers them).
      if (route.method !== 'HEAD' && route.url !== '/docs' && !route.url.startsWith('/docs/')) routes.push(route);
    });
    let docs: Promise<FastifyInstance> | undefined;
    // A failed build is forgotten, so the next request tries again.
    const built = () =>
      (docs ??= buildDocs(routes).catch((err: unknown) => {
        docs = undefined;
        throw err;
      }));
    app.get('/openapi.json', { schema: { response: { 200: { type: 'object', additionalProperties: true } } } }, async () => (await built()).swagger());
    // The UI's pages and assets, answered by the docs instance as they would be by the plugin itself.
    const ui = async (request: FastifyRequest, reply: FastifyReply) => {
      // GET for HEAD too: the app's HEAD route sends the GET's headers without its body.
      const res = await (await built()).inject({ method: 'GET', url: request.url, headers: request.headers });
      // Not found, also a missing asset: the app's own 404, as the plugin's routes gave it.
      if (res.statusCode === 404) return reply.callNotFound();
      const { 'content-length': _length, 'transfer-encoding': _te, connection: _c, 'keep-alive': _ka, date: _date, ...headers } = res.headers;
      reply.code(res.statusCode).headers(headers);
      return res.rawPayload.length > 0 ? reply.send(res.rawPayload) : reply.send();
    };
    app.get('/docs', { schema: { hide: true } }, ui);
    app.get('/docs/*', { schema: { hide: true } }, ui);
  },
  { name: 'openapi' },
);

/** The documented routes, for the test that checks every route has a description and example. */
export const DOCUMENTED = Object.keys(DOCS);

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
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

/** OpenAPI 3 from the TypeBox route schemas at GET /openapi.json, interactive docs at GET /docs. */
export default fp(
  async (app) => {
    await app.register(swagger, {
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
    await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { tryItOutEnabled: true } });
    app.get('/openapi.json', { schema: { response: { 200: { type: 'object', additionalProperties: true } } } }, async () => app.swagger());
  },
  { name: 'openapi' },
);

/** The documented routes, for the test that checks every route has a description and example. */
export const DOCUMENTED = Object.keys(DOCS);

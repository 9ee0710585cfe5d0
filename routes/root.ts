import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>StepChat OpenAI-compatible gateway</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code,pre{background:#f4f4f4;border-radius:4px}pre{padding:.8rem;overflow:auto}</style></head>
<body><h1>StepChat OpenAI-compatible gateway</h1>
<p>This service speaks the OpenAI Chat Completions API and answers with StepChat (StepFun's chat assistant).
Point any OpenAI client at <code>&lt;this address&gt;/v1</code> and use your StepChat credentials,
<code>deviceId@Oasis-Token</code> (several joined by commas), as the API key.</p>
<pre>curl $BASE/v1/chat/completions \\
  -H "Authorization: Bearer DEVICE_ID@OASIS_TOKEN" -H "Content-Type: application/json" \\
  -d '{"model":"step","messages":[{"role":"user","content":"Hello"}],"stream":true}'</pre>
<p>Endpoints: <code>POST /v1/chat/completions</code>, <code>GET /v1/models</code>, <code>POST /token/check</code>, <code>GET /ping</code>.</p>
</body></html>
`;

/** GET / (what this is) and GET /ping (liveness). */
const root: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', { schema: { response: { 200: Type.String() } } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  app.get('/ping', { schema: { response: { 200: Type.String() } } }, async (_request, reply) => reply.type('text/plain; charset=utf-8').send('pong'));
};

export default root;

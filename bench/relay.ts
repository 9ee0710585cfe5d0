import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createUpstreamClient, type Dialect } from './lib/upstream.js';

// The bare relay: the floor the service is measured against. A node:http server that, like the
// service, logs in once (RefreshToken) and then per completion makes the same three upstream calls
// (CreateChatSession → ChatStream → DeleteChatSession in the background), and writes one OpenAI
// chunk per upstream text event. Nothing else: no validation, no auth, no logging, no metrics, no
// keep-alive, no stop/usage/tools handling. Started by bench/run.ts with RELAY_UPSTREAM,
// RELAY_TOKEN (`deviceId@token`) and RELAY_DIALECT; prints {"url": …} once it listens.

const upstream = await createUpstreamClient(process.env.RELAY_UPSTREAM!, process.env.RELAY_TOKEN!, (process.env.RELAY_DIALECT ?? 'capy') as Dialect);
let seq = 0;

interface Body {
  model?: string;
  stream?: boolean;
  messages?: { content?: unknown }[];
}

function promptOf(body: Body): string {
  return (body.messages ?? []).map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n\n');
}

async function handle(res: ServerResponse, raw: string): Promise<void> {
  const body = JSON.parse(raw) as Body;
  const id = `chatcmpl-relay${++seq}`;
  const created = Math.floor(Date.now() / 1000);
  const model = body.model ?? 'step';
  const chunk = (delta: object, finish: string | null): string =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  if (!body.stream) {
    try {
      const { text } = await upstream.complete(promptOf(body), 0);
      const completion = { id, object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion));
    } catch (err) {
      res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: String(err), type: 'upstream_error', code: 'upstream_error' } }));
    }
    return;
  }
  let started = false;
  const start = (): void => {
    if (started) return;
    started = true;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  };
  try {
    await upstream.complete(promptOf(body), 0, (piece) => {
      start();
      res.write(chunk({ content: piece }, null));
    });
    start();
    res.end(`${chunk({}, 'stop')}data: [DONE]\n\n`);
  } catch (err) {
    if (!started) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: String(err), type: 'upstream_error', code: 'upstream_error' } }));
  }
}

function onRequest(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'GET') {
    res.end('pong');
    return;
  }
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (piece: string) => (raw += piece));
  req.on('end', () => void handle(res, raw));
}

const server = createServer({ keepAliveTimeout: 60_000 }, onRequest);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    server.close();
    void upstream.drain().then(() => process.exit(0));
  });
}

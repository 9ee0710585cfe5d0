import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as turn } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { encodeEnvelope, FLAG_END_STREAM } from '../src/upstream/connect-codec.js';
import { createHttp, type Http } from '../src/upstream/http.js';
import { waitFor } from './helpers.js';

// The upstream client's two call shapes (createHttp().stream and .unary) over real HTTP, against
// a bare server whose replies each test shapes: what arrives, what fails, and what the client's
// reading does to the server (backpressure, abandonment).

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
let handler: Handler = (_req, res) => void res.end();
let server: Server;
let http: Http;

before(async () => {
  server = createServer((req, res) => void handler(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  http = createHttp({ baseUrl: `http://127.0.0.1:${port}`, connectTimeoutMs: 2000, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
});

after(async () => {
  await http.close();
  server.closeAllConnections();
  server.close();
});

const open = (signal?: AbortSignal) => http.stream('/stream', {}, { hello: 1 }, 'TestStream', signal);

async function collect(it: AsyncIterable<{ data: unknown }[]>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const batch of it) for (const e of batch) out.push(e.data);
  return out;
}

test('envelopes cut at random offsets over TCP arrive whole and in order', async () => {
  const messages = Array.from({ length: 200 }, (_, i) => ({ textEvent: { text: `片段 ${i} 🚀` } }));
  const bytes = Buffer.concat([...messages.map((m) => encodeEnvelope(m)), encodeEnvelope({}, FLAG_END_STREAM)]);
  handler = async (_req, res) => {
    res.socket?.setNoDelay(true);
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    for (let off = 0; off < bytes.length; ) {
      const size = 1 + Math.floor(Math.random() * 17);
      res.write(bytes.subarray(off, off + size));
      off += size;
      await turn();
    }
    res.end();
  };
  assert.deepEqual(await collect(await open()), [...messages, {}]);
});

test('a reply that stops inside an envelope fails with an upstream error instead of hanging', async () => {
  const bytes = encodeEnvelope({ textEvent: { text: 'cut short' } });
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    res.end(bytes.subarray(0, bytes.length - 3));
  };
  await assert.rejects(collect(await open()), (err: Error & { code?: string; statusCode?: number }) => {
    assert.equal(err.code, 'STEP_UPSTREAM');
    assert.equal(err.statusCode, 502);
    assert.match(err.message, /inside an envelope/);
    return true;
  });
});

test('a Connect error reply becomes the matching domain error, with its message', async () => {
  handler = (_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'unauthenticated', message: 'token expired' }));
  };
  await assert.rejects(open(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'STEP_UPSTREAM_UNAUTHENTICATED');
    assert.match(err.message, /TestStream answered 401 unauthenticated: token expired/);
    return true;
  });
});

test('a consumer that stops reading stops the upstream too: the server is held back, nothing piles up', async () => {
  const chunk = Buffer.concat(Array.from({ length: 64 }, (_, i) => encodeEnvelope({ textEvent: { text: `${i}`.padEnd(1000, 'x') } })));
  let written = 0;
  let blocked = false;
  handler = async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    // 64 MiB on offer; a client that buffered everything would take it all.
    while (written < 64 * 1024 * 1024 && !res.destroyed) {
      written += chunk.length;
      if (!res.write(chunk)) {
        blocked = true;
        await once(res, 'drain');
      }
    }
    res.end();
  };
  const it = await open();
  const first = await it.next();
  assert.equal(first.done, false);
  await waitFor(() => blocked, 'the server to feel backpressure');
  // Time in which a client that buffered everything would take megabytes more.
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(written < 16 * 1024 * 1024, `the client let ${written} bytes pile up`);
  await it.return?.();
});

test('abandoning the stream closes the upstream connection', async () => {
  let closed: Promise<unknown> | undefined;
  handler = (req, res) => {
    closed = once(res, 'close');
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    res.write(encodeEnvelope({ textEvent: { text: 'first' } }));
    // …and never ends.
  };
  const it = await open();
  assert.deepEqual((await it.next()).value?.[0]?.data, { textEvent: { text: 'first' } });
  await it.return?.();
  assert.ok(closed, 'the upstream handler ran');
  await closed;
});

test('the client going away aborts the call as a ClientGone, not an upstream failure', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    res.write(encodeEnvelope({ textEvent: { text: 'first' } }));
  };
  const ac = new AbortController();
  const it = await open(ac.signal);
  await it.next();
  const pending = it.next();
  ac.abort();
  await assert.rejects(pending, (err: Error & { code?: string }) => err.code === 'STEP_CLIENT_GONE');
});

const call = <T>(signal?: AbortSignal) => http.unary<T>('/unary', { 'x-session': 's1' }, { q: 1 }, 'TestUnary', signal);

test('a unary call sends JSON with the session headers and returns the reply', async () => {
  let seen: { type?: string; session?: string; body?: string } = {};
  handler = async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    seen = { type: req.headers['content-type'], session: req.headers['x-session'] as string, body };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ chatId: '42', 名: '值' }));
  };
  assert.deepEqual(await call(), { chatId: '42', 名: '值' });
  assert.deepEqual(seen, { type: 'application/json', session: 's1', body: '{"q":1}' });
});

test('unary failures map to domain errors: Connect codes, non-JSON, oversized and slow replies', async () => {
  handler = (_req, res) => {
    res.writeHead(429, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'resource_exhausted', message: 'slow down' }));
  };
  await assert.rejects(call(), (err: Error & { code?: string }) => err.code === 'STEP_UPSTREAM_RATE_LIMITED' && /slow down/.test(err.message));

  handler = (_req, res) => void res.end('<html>gateway</html>');
  await assert.rejects(call(), (err: Error & { code?: string }) => err.code === 'STEP_UPSTREAM' && /not JSON/.test(err.message));

  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(Buffer.alloc(9 * 1024 * 1024, 0x20));
  };
  await assert.rejects(call(), (err: Error & { code?: string }) => err.code === 'STEP_UPSTREAM' && /exceeds/.test(err.message));

  const slow = createHttp({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connectTimeoutMs: 2000, headersTimeoutMs: 200, bodyTimeoutMs: 200 });
  handler = () => undefined; // never answers
  try {
    await assert.rejects(slow.unary('/unary', {}, {}, 'SlowUnary'), (err: Error & { code?: string; statusCode?: number }) => err.code === 'STEP_UPSTREAM_TIMEOUT' && err.statusCode === 504);
  } finally {
    await slow.close();
  }
});

test('a unary call whose client leaves is aborted as ClientGone', async () => {
  let closed: Promise<unknown> | undefined;
  let arrived: () => void = () => undefined;
  const handlerRan = new Promise<void>((resolve) => (arrived = resolve));
  handler = (_req, res) => {
    closed = once(res, 'close');
    arrived();
  };
  const ac = new AbortController();
  const pending = call(ac.signal);
  await handlerRan; // the call is on the upstream when the client leaves
  ac.abort();
  await assert.rejects(pending, (err: Error & { code?: string }) => err.code === 'STEP_CLIENT_GONE');
  assert.ok(closed);
  await closed;
});

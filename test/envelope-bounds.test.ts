// @dialect capy
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { EnvelopeDecoder, encodeEnvelope, FLAG_END_STREAM, MAX_ENVELOPE_BYTES } from '../src/upstream/connect-codec.js';
import { createHttp, type Http } from '../src/upstream/http.js';

// An upstream announcing an absurd envelope must fail at its header, not after buffering it.

let server: Server;
let http: Http;
let bytesSent = 0;
let closedByClient = false;

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    const head = Buffer.alloc(5);
    head.writeUInt32BE(MAX_ENVELOPE_BYTES + 1, 1);
    res.write(head);
    // Then a kilobyte every 10 ms, for as long as the client listens.
    const timer = setInterval(() => {
      res.write(Buffer.alloc(1024, 0x20));
      bytesSent += 1024;
    }, 10);
    res.once('close', () => {
      clearInterval(timer);
      closedByClient = true;
    });
  });
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

test('an envelope announced larger than the limit fails at its header and the call is dropped', async () => {
  const feed = await http.stream('/stream', {}, {}, 'HugeStream');
  await assert.rejects(
    (async () => {
      for await (const _ of feed) void _;
    })(),
    (err: Error & { code?: string }) => err.code === 'STEP_UPSTREAM' && /exceeds/.test(err.message),
  );
  for (let i = 0; i < 500 && !closedByClient; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(closedByClient, 'the upstream connection was closed');
  assert.ok(bytesSent < 1024 * 1024, 'the body behind the header was not read on');
});

test('a large envelope arriving in many small pieces decodes whole', () => {
  const text = 'x'.repeat(4 * 1024 * 1024);
  const bytes = Buffer.concat([encodeEnvelope({ text }), encodeEnvelope({}, FLAG_END_STREAM)]);
  const decoder = new EnvelopeDecoder();
  const out = [];
  for (let at = 0; at < bytes.length; at += 4096) {
    out.push(...decoder.push(bytes.subarray(at, at + 4096)));
  }
  assert.equal(decoder.buffered, 0);
  assert.equal(out.length, 2);
  assert.equal((out[0]!.data as { text: string }).text.length, text.length);
});

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { suiteStack } from './helpers.js';

const BODY_BYTES = 200;

describe('a request body that trickles in is cut off at REQUEST_TIMEOUT_MS', () => {
  const s = suiteStack({ config: { REQUEST_TIMEOUT_MS: 300 } });

  test('a body sent a byte at a time is answered 408 long before it is complete', async () => {
    const { port } = new URL(s.baseUrl);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    let closed = false;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${s.token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`,
    );
    // 200 bytes at one per 50 ms would take 10 s: the service must not wait for them.
    let sent = 0;
    while (!closed && received === '' && sent < BODY_BYTES) {
      socket.write(' ');
      sent++;
      await sleep(50);
    }
    socket.destroy();
    assert.ok(sent < BODY_BYTES, 'the service waited for the whole trickling body');
    assert.match(received, /^HTTP\/1\.1 408 /);
    assert.equal(s.emu.stats().chatsCreated, 0, 'no upstream chat for a request never received');
  });

  test('the service still answers after cutting a slow client off', async () => {
    const answer = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'still there?' }] });
    assert.ok(answer.choices[0]!.message.content);
  });
});

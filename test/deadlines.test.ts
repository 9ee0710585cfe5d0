import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { parseSse, suiteStack } from './helpers.js';

// The emulator's endless faults write every 50 ms, far inside the silence timeout: only the total
// deadline (UPSTREAM_ANSWER_TIMEOUT_MS) can end them.
const ask = (content: string, stream = false) => ({ model: 'step', stream, messages: [{ role: 'user' as const, content }] });

describe('an upstream answer that never completes ends at UPSTREAM_ANSWER_TIMEOUT_MS', () => {
  const s = suiteStack({ config: { UPSTREAM_ANSWER_TIMEOUT_MS: 800, UPSTREAM_BODY_TIMEOUT_MS: 60_000, SSE_KEEPALIVE_MS: 200 } });

  test('a 503 whose body trickles forever is a 504 when not streaming', async () => {
    await assert.rejects(s.client().chat.completions.create(ask('trickle #fault:trickle-503')), (err: InstanceType<typeof OpenAI.APIError>) => err.status === 504);
    const res = await s.post(ask('trickle again #fault:trickle-503'));
    assert.equal(res.status, 504);
    const { error } = (await res.json()) as { error: { message: string; type: string } };
    assert.equal(error.type, 'upstream_error');
    assert.match(error.message, /within 800 ms/);
  });

  test('a stream of heartbeats only ends with an error chunk, then [DONE]', async () => {
    const res = await s.post(ask('beats #fault:heartbeats', true));
    assert.equal(res.status, 200);
    const { data, comments } = parseSse(await res.text());
    assert.ok(comments.length > 0, 'keep-alive comments while the upstream only beat');
    assert.equal(data.at(-1), '[DONE]');
    const last = JSON.parse(data.at(-2)!);
    assert.equal(last.error.type, 'upstream_error');
    assert.match(last.error.message, /within 800 ms/);
  });

  test('a heartbeat-only answer is a 504 when not streaming, and the chat is deleted', async () => {
    const res = await s.post(ask('beats #fault:heartbeats'));
    assert.equal(res.status, 504);
    await s.settled();
  });
});

describe('an attachment origin that drips its bytes is cut off at ATTACHMENT_FETCH_TIMEOUT_MS', () => {
  const s = suiteStack({ config: { ATTACHMENT_ALLOW_HOSTS: '127.0.0.1', ATTACHMENT_FETCH_TIMEOUT_MS: 1000, SSE_KEEPALIVE_MS: 200 } });
  // One byte every 20 ms: never silent for the silence timeouts, a megabyte would take hours.
  const dripping = () => ({
    model: 'step',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'read this' }, { type: 'image_url', image_url: { url: `${s.emu.url}/files/big.bin?bytes=1000000&drip=20` } }] }],
  });

  test('a non-stream request gets a 400 naming the host, and no chat is created', async () => {
    const chats = s.emu.stats().chatsCreated;
    const res = await s.post(dripping());
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as { error: { message: string; code: string } };
    assert.equal(error.code, 'attachment_fetch');
    assert.match(error.message, /127\.0\.0\.1.*timed out.*within 1000 ms/);
    assert.equal(s.emu.stats().chatsCreated, chats);
  });

  test('a streaming request sees keep-alive comments while the file loads, then the error and [DONE]', async () => {
    const res = await s.post({ ...dripping(), stream: true });
    assert.equal(res.status, 200);
    const { data, comments } = parseSse(await res.text());
    assert.ok(comments.length > 0, 'keep-alive comments while the attachment was fetched');
    assert.equal(data.at(-1), '[DONE]');
    const { error } = JSON.parse(data.at(-2)!);
    assert.equal(error.code, 'attachment_fetch');
    assert.equal(error.type, 'invalid_request_error');
  });
});

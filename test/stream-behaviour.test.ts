import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { answerFor } from './emulator/index.js';
import { parseSse, postAbortable, suiteStack, waitFor } from './helpers.js';

const ask = (content: string, stream = true) => ({ model: 'step', stream, messages: [{ role: 'user' as const, content }] });

describe('keep-alive while the upstream is silent', () => {
  const s = suiteStack({ config: { SSE_KEEPALIVE_MS: 100 }, emulator: { slowMs: 1500 } });

  test('a slow upstream gets headers and ": keep-alive" comments, then the full answer', async () => {
    const asked = s.emu.messages.length;
    const completed = s.emu.stats().streamsCompleted;
    const res = await s.post(ask('slow start #fault:slow'));
    assert.equal(res.status, 200);
    // What the emulator recorded, not a clock: when the headers arrive it has streamed nothing yet.
    assert.ok(s.emu.messages.slice(asked).every((m) => m.answer === ''), 'headers were sent before the upstream answered');
    assert.equal(s.emu.stats().streamsCompleted, completed, 'the upstream stream is still held back');
    const { data, comments } = parseSse(await res.text());
    assert.ok(comments.length >= 2, `got ${comments.length} keep-alive comments`);
    assert.ok(comments.every((c) => c === ': keep-alive'));
    const text = data.slice(0, -1).map((d) => JSON.parse(d).choices[0].delta.content ?? '').join('');
    assert.equal(text, answerFor('slow start #fault:slow').join(''));
    assert.equal(data.at(-1), '[DONE]');
  });

  test('silence between frames is filled with keep-alive comments too', async () => {
    const res = await s.post(ask('pauses #delay:250 #len:3'));
    assert.equal(res.status, 200);
    const { data, comments } = parseSse(await res.text());
    assert.ok(comments.length >= 2);
    assert.equal(data.at(-1), '[DONE]');
    const text = data.slice(0, -1).map((d) => JSON.parse(d).choices[0].delta.content ?? '').join('');
    assert.equal(text, answerFor('pauses #delay:250 #len:3').join(''));
  });
});

describe('per-account concurrency limit', () => {
  // No queue wait: the limit answers at once (test/account-queue.test.ts covers the wait).
  const s = suiteStack({ config: { TOKEN_MAX_CONCURRENCY: 1, TOKEN_QUEUE_TIMEOUT_MS: 0, UPSTREAM_BODY_TIMEOUT_MS: 2000 } });

  test('with TOKEN_QUEUE_TIMEOUT_MS=0, when every account is busy the answer is 429 with Retry-After, and the SDK raises RateLimitError', async () => {
    const busy = new AbortController();
    const first = postAbortable(s, ask('hold the account #fault:stall'), busy.signal);
    await waitFor(() => s.emu.stats().activeStreams === 1, 'first stream open');
    const res = await s.post(ask('second', false));
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.equal(res.headers.get('x-should-retry'), null, 'a retry later can work');
    assert.equal(((await res.json()) as any).error.type, 'rate_limit_error');
    await assert.rejects(s.client().chat.completions.create(ask('third', false)), OpenAI.RateLimitError);
    busy.abort();
    await first;
    await waitFor(() => s.emu.stats().activeStreams === 0, 'first stream closed');
    await s.settled();
    const ok = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'after' }] });
    assert.equal(ok.choices[0]!.message.content, answerFor('after').join(''));
  });
});

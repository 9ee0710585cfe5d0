import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { answerFor, type Emulator } from './emulator/index.js';
import { collectStream, suiteStack, waitFor, type Stack } from './helpers.js';

const key = 'sk-queue-suite-key';
const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });

/** Two pool accounts, one completion each at a time. */
function twoAccountsAtOne(extra: Record<string, unknown> = {}) {
  return (emu: Emulator) => ({
    STEP_TOKENS: [emu.addAccount(), emu.addAccount()].map((a) => a.token).join(','),
    API_KEYS: key,
    TOKEN_MAX_CONCURRENCY: 1,
    ...extra,
  });
}

/** Polls the queue length the service reports on /metrics until it is `n`; returns the last one read. */
async function queueLength(s: Stack, n: number): Promise<number> {
  let seen = -1;
  for (let i = 0; i < 500 && seen !== n; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 10));
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
    seen = Number(/^step_gateway_queued_requests (\d+)/m.exec(text)?.[1]);
  }
  return seen;
}

describe('two accounts at TOKEN_MAX_CONCURRENCY=1: a FIFO wait queue', () => {
  const s = suiteStack({ emulator: { fragment: false, frames: 4 }, config: twoAccountsAtOne() });

  test('10 simultaneous requests all complete, never more than one stream per account', async () => {
    s.emu.reset();
    const client = s.client(key);
    const prompts = Array.from({ length: 10 }, (_, i) => `queued ${i} #delay:30`);
    const answers = await Promise.all(prompts.map((p) => client.chat.completions.create({ ...ask(p), stream: true }).then(collectStream)));
    answers.forEach((a, i) => assert.equal(a.content, answerFor(prompts[i]!, 4).join('')));
    assert.ok(s.emu.stats().maxActiveStreams <= 2, `${s.emu.stats().maxActiveStreams} streams at once`);
  });

  test('a client that leaves while queued is gone from the queue and never reaches StepChat', async () => {
    const client = s.client(key);
    // Two answers that stall hold both accounts until their clients leave.
    const holders = [0, 1].map(() => new AbortController());
    const held = holders.map((c, i) => client.chat.completions.create({ ...ask(`holding ${i} #fault:stall`), stream: true }, { signal: c.signal }).then(collectStream).catch(() => undefined));
    await waitFor(() => s.emu.stats().activeStreams === 2, 'both accounts busy');
    const leaver = new AbortController();
    const left = client.chat.completions.create(ask('leaves the queue'), { signal: leaver.signal }).catch((err: Error) => err);
    assert.equal(await queueLength(s, 1), 1, 'the request waits in the queue');
    leaver.abort();
    assert.ok((await left) instanceof OpenAI.APIUserAbortError);
    assert.equal(await queueLength(s, 0), 0, 'the queue is empty once the client left');
    for (const c of holders) c.abort();
    await Promise.all(held);
    const after = await client.chat.completions.create(ask('served after the holders left'));
    assert.equal(after.choices[0]!.message.content, answerFor('served after the holders left', 4).join(''));
    assert.ok(!s.emu.messages.some((m) => m.text.includes('leaves the queue')), 'the queued request never went upstream');
  });
});

describe('TOKEN_QUEUE_TIMEOUT_MS=200: the surplus gets 429', () => {
  const s = suiteStack({ emulator: { fragment: false, frames: 4 }, config: twoAccountsAtOne({ TOKEN_QUEUE_TIMEOUT_MS: 200 }) });

  test('of 10 simultaneous long requests two are answered and eight get 429 with Retry-After', async () => {
    // Each answer takes over a second (4 frames 300 ms apart), far beyond the 200 ms queue wait.
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => s.post({ ...ask(`long ${i} #delay:300`), stream: true }, { authorization: `Bearer ${key}` })),
    );
    const bodies = await Promise.all(responses.map((r) => r.text()));
    const ok = responses.filter((r) => r.status === 200);
    const busy = responses.filter((r) => r.status === 429);
    assert.equal(ok.length, 2);
    assert.equal(busy.length, 8);
    for (const r of busy) assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    const errors = bodies.filter((_, i) => responses[i]!.status === 429).map((b) => JSON.parse(b) as { error: { type: string; code: string } });
    assert.ok(errors.every((e) => e.error.type === 'rate_limit_error' && e.error.code === 'tokens_busy'));
  });
});

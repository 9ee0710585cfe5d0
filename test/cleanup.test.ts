import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { suiteStack, waitFor } from './helpers.js';

const ask = (content: string, stream = false) => ({ model: 'step', stream, messages: [{ role: 'user' as const, content }] });

describe('every upstream chat is deleted and abandoned work stops', () => {
  const s = suiteStack({ config: { UPSTREAM_BODY_TIMEOUT_MS: 500 } });

  test('a client that disconnects mid-stream stops the upstream stream within 1 s', async () => {
    const res = await s.post(ask('keep talking #fault:stall', true));
    const reader = res.body!.getReader();
    await reader.read(); // the stream has started
    const aborted = s.emu.stats().streamsAborted;
    const t0 = Date.now();
    await reader.cancel();
    await waitFor(() => s.emu.stats().streamsAborted > aborted, 'the upstream stream to be closed', 3000);
    assert.ok(s.emu.stats().lastAbortAt! - t0 < 1000, `upstream closed after ${s.emu.stats().lastAbortAt! - t0} ms`);
    await s.settled();
  });

  test('a non-streaming client that disconnects stops the upstream stream too', async () => {
    const controller = new AbortController();
    const started = s.emu.stats().streamsStarted;
    const pending = fetch(`${s.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` },
      body: JSON.stringify(ask('wait #fault:stall')),
      signal: controller.signal,
    }).catch(() => undefined);
    await waitFor(() => s.emu.stats().streamsStarted > started, 'upstream stream started');
    const aborted = s.emu.stats().streamsAborted;
    const t0 = Date.now();
    controller.abort();
    await pending;
    await waitFor(() => s.emu.stats().streamsAborted > aborted, 'the upstream stream to be closed', 3000);
    assert.ok(s.emu.stats().lastAbortAt! - t0 < 1000);
    await s.settled();
  });

  test('after a mixed run of endings no upstream chat is left', async () => {
    const created = s.emu.stats().chatsCreated;
    const runs: Promise<unknown>[] = [];
    const kinds = ['', '#fault:error-event', '#fault:error-trailer', '#fault:reset', '#fault:stall'];
    for (const [i, fault] of kinds.entries()) {
      for (const stream of [false, true]) runs.push(s.post(ask(`mixed ${i} ${fault}`, stream)).then((r) => r.text()).catch(() => ''));
    }
    // client aborts in both modes
    for (const stream of [false, true]) {
      const c = new AbortController();
      runs.push(
        fetch(`${s.baseUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` },
          body: JSON.stringify(ask('abort me #fault:stall', stream)),
          signal: c.signal,
        }).then((r) => r.text()).catch(() => ''),
      );
      setTimeout(() => c.abort(), 100);
    }
    await Promise.all(runs);
    assert.equal(s.emu.stats().chatsCreated - created, 12);
    await s.settled();
    assert.equal(s.emu.stats().liveChats, 0);
    assert.equal(s.emu.stats().activeStreams, 0);
  });

  test('a stalled upstream stream ends with a timeout error in the stream', async () => {
    const res = await s.post(ask('stall #fault:stall', true));
    const text = await res.text();
    assert.match(text, /"code":"upstream_timeout"/);
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    await s.settled();
  });
});

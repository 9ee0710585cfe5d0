import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CAPY_PATHS, YUEWEN_PATHS } from './emulator/index.js';
import { DIALECT, postAbortable, suiteStack, waitFor } from './helpers.js';

const ask = (content: string, stream = false) => ({ model: 'step', stream, messages: [{ role: 'user' as const, content }] });

// The upstream silence timeout is a minute here, so only the client's leaving can close a stalled
// upstream stream within the few seconds waited (a margin that holds on a busy machine).
describe('a client that leaves stops the upstream stream', () => {
  const s = suiteStack({ config: { UPSTREAM_BODY_TIMEOUT_MS: 60_000 } });

  test('a client that disconnects mid-stream stops the upstream stream', async () => {
    const res = await s.post(ask('keep talking #fault:stall', true));
    const reader = res.body!.getReader();
    await reader.read(); // the stream has started
    const aborted = s.emu.stats().streamsAborted;
    await reader.cancel();
    await waitFor(() => s.emu.stats().streamsAborted > aborted, 'the upstream stream to be closed', 10_000);
    await s.settled();
  });

  test('a non-streaming client that disconnects stops the upstream stream too', async () => {
    const controller = new AbortController();
    const started = s.emu.stats().streamsStarted;
    const pending = postAbortable(s, ask('wait #fault:stall'), controller.signal);
    await waitFor(() => s.emu.stats().streamsStarted > started, 'upstream stream started');
    const aborted = s.emu.stats().streamsAborted;
    controller.abort();
    await pending;
    await waitFor(() => s.emu.stats().streamsAborted > aborted, 'the upstream stream to be closed', 10_000);
    await s.settled();
  });
});

describe('every upstream chat is deleted and abandoned work stops', () => {
  const s = suiteStack({ config: { UPSTREAM_BODY_TIMEOUT_MS: 500 } });

  test('after a mixed run of endings no upstream chat is left', async () => {
    const created = s.emu.stats().chatsCreated;
    const runs: Promise<unknown>[] = [];
    const kinds = ['', '#fault:error-event', '#fault:error-trailer', '#fault:reset', '#fault:stall'];
    for (const [i, fault] of kinds.entries()) {
      for (const stream of [false, true]) runs.push(s.post(ask(`mixed ${i} ${fault}`, stream)).then((r) => r.text()).catch(() => ''));
    }
    // Client aborts in both modes, once the upstream got the message: an abort before CreateChat
    // would rightly create no chat, so a clock would make the count below a race.
    for (const stream of [false, true]) {
      const c = new AbortController();
      const text = `abort me ${stream ? 'streamed' : 'whole'} #fault:stall`;
      runs.push(postAbortable(s, ask(text, stream), c.signal));
      await waitFor(() => s.emu.messages.some((m) => m.text.includes(text)), `the upstream got "${text}"`);
      c.abort();
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

describe('a chat deletion that fails for a moment is tried again', () => {
  const s = suiteStack();
  const deletePath = DIALECT === 'capy' ? CAPY_PATHS.deleteChatSession : YUEWEN_PATHS.delChat;
  const deletions = () => s.emu.requests.filter((r) => r.path === deletePath);

  test('a deletion answered 503 is retried and the chat goes, with no warning logged', async () => {
    const deviceId = s.token.slice(0, s.token.indexOf('@'));
    s.emu.faultAccount(deviceId, { status: 503, calls: [deletePath.slice(deletePath.lastIndexOf('/') + 1)] });
    const before = deletions().length;
    const answer = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'delete me later' }] });
    assert.ok(answer.choices[0]!.message.content);
    await waitFor(() => deletions().slice(before).some((r) => r.status === 503), 'a deletion refused with 503');
    assert.equal(s.emu.stats().liveChats, 1, 'the chat is still there after the refused deletion');
    s.emu.faultAccount(deviceId, undefined);
    await s.settled();
    assert.equal(s.emu.stats().liveChats, 0);
    assert.ok(deletions().length - before >= 2, 'deleted on a later try');
    assert.equal(s.app.chatJanitor.stats().retried >= 1, true);
    assert.ok(!s.logs.text.includes('"msg":"could not delete upstream chat"'), 'a retried deletion is no warning');
  });
});

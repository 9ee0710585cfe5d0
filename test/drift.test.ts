import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { capySearchResultsFor, searchResultsFor } from './emulator/index.js';
import { DRIFT_EVENTS } from './emulator/directives.js';
import { collectStream, DIALECT, startStack, suiteStack, waitFor } from './helpers.js';

describe(`protocol drift (${DIALECT})`, () => {
  const s = suiteStack({ emulator: { fragment: false } });

  test('a riskEvent ends the answer with finish_reason content_filter and the text so far (non-streaming)', async () => {
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'tell me #fault:risk' }] });
    assert.equal(res.choices[0]!.finish_reason, 'content_filter');
    assert.equal(res.choices[0]!.message.content, s.emu.messages.at(-1)!.answer);
    assert.ok(res.choices[0]!.message.content);
  });

  test('a riskEvent ends a stream with finish_reason content_filter', async () => {
    const stream = await s.client().chat.completions.create({ model: 'step', stream: true, messages: [{ role: 'user', content: 'tell me #fault:risk' }] });
    const { content, chunks } = await collectStream(stream);
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'content_filter');
    assert.equal(content, s.emu.messages.at(-1)!.answer);
  });

  test('an ordinary answer still ends with finish_reason stop', async () => {
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'plain' }] });
    assert.equal(res.choices[0]!.finish_reason, 'stop');
  });
});

const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });
const results = (text: string) => (DIALECT === 'capy' ? capySearchResultsFor(text) : searchResultsFor(text));

describe(`tolerated protocol drift (${DIALECT})`, () => {
  const s = suiteStack({ emulator: { fragment: true } });
  /** Warn lines naming this unknown event kind. */
  const warnings = (event: string) => s.logs.lines.filter((l) => l.includes(`"event":"${event}"`) && l.includes('"level":40'));

  test('unknown event kinds and unknown fields leave the answer exact, streamed or not', async () => {
    const res = await s.client().chat.completions.create(ask('drifting #drift'));
    assert.equal(res.choices[0]!.message.content, s.emu.messages.at(-1)!.answer);
    assert.equal(res.choices[0]!.finish_reason, 'stop');
    const stream = await s.client().chat.completions.create({ ...ask('drifting along #drift'), stream: true });
    const { content } = await collectStream(stream);
    assert.equal(content, s.emu.messages.at(-1)!.answer);
  });

  test('each unknown event kind is named once at warn and counted in /metrics', async () => {
    await s.client().chat.completions.create(ask('drift again #drift'));
    for (const name of DRIFT_EVENTS) assert.equal(warnings(name).length, 1, `one warning for ${name}`);
    const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text();
    // Three #drift answers so far, each with every drift kind twice.
    for (const name of DRIFT_EVENTS) assert.match(metrics, new RegExp(`step_gateway_upstream_unknown_events_total\\{event="${name}"\\} 6\\b`));
  });

  test('sources sent as a sourcingEvent become the answer\'s numbered sources', async () => {
    const prompt = 'sourced news #search #sourcing';
    const res = await s.client().chat.completions.create(ask(prompt));
    const first = results(prompt)[0]!;
    assert.match(res.choices[0]!.message.content!, /\n\nSources:\n\[1\] /);
    assert.ok(res.choices[0]!.message.content!.includes(first.url), 'the first source is listed');
  });
});

describe(`a signed-out account (${DIALECT})`, () => {
  const s = suiteStack({ emulator: { fragment: false } });
  const signIn = { code: 'unauthenticated', message: 'account need sign in', details: [{ type: 'stepfun.common.v1.ErrorDetail', debug: { code: 'CODE_ACCOUNT_NEED_SIGN_IN' } }] };

  test('CODE_ACCOUNT_NEED_SIGN_IN in a stream fails over to the next account, and the account is then tried last', async () => {
    const dead = s.emu.addAccount();
    const live = s.emu.addAccount();
    s.emu.signOut(dead.userToken);
    const client = s.client(`${dead.token},${live.token}`);
    const triedDead = () => s.emu.messages.filter((m) => m.deviceId === dead.deviceId).length;
    for (let i = 0; i < 3 && triedDead() === 0; i++) {
      const res = await client.chat.completions.create(ask(`failover ${i}`));
      assert.equal(res.choices[0]!.message.content, s.emu.messages.at(-1)!.answer);
      assert.equal(s.emu.messages.at(-1)!.deviceId, live.deviceId);
    }
    assert.equal(triedDead(), 1, 'the signed-out account was tried once');
    for (let i = 0; i < 2; i++) await client.chat.completions.create(ask(`after failover ${i}`));
    assert.equal(triedDead(), 1, 'and not again');
  });

  test('with no other account the client gets a 401 that says to sign in again', async () => {
    const dead = s.emu.addAccount();
    s.emu.signOut(dead.userToken);
    const err = await s.client(dead.token).chat.completions.create(ask('signed out')).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.AuthenticationError);
    assert.match(err.message, /signed out upstream \(CODE_ACCOUNT_NEED_SIGN_IN\)/);
  });

  test('CODE_ACCOUNT_NEED_SIGN_IN on creating the chat fails over too', async () => {
    const a = s.emu.addAccount();
    const b = s.emu.addAccount();
    s.emu.failNext('CreateChat', 401, signIn);
    const res = await s.client(`${a.token},${b.token}`).chat.completions.create(ask('unary sign in'));
    assert.equal(res.choices[0]!.message.content, s.emu.messages.at(-1)!.answer);
  });
});

describe(`auxiliary calls renamed upstream (${DIALECT})`, () => {
  const s = suiteStack({ emulator: { fragment: false, removedCalls: ['EnableSearch', 'DisableSearch', 'GetChatConfig'] } });

  test('completions still succeed with use_search true and false', async () => {
    for (const use_search of [true, false, true]) {
      const res = await s.client().chat.completions.create({ ...ask(`aux ${use_search}`), use_search } as never);
      const content = (res as OpenAI.Chat.Completions.ChatCompletion).choices[0]!.message.content!;
      // capy takes search per message (no auxiliary call): its answer then cites sources.
      if (use_search && DIALECT === 'capy') assert.match(content, /\n\nSources:\n\[1\] /);
      else assert.equal(content, s.emu.messages.at(-1)!.answer);
    }
    if (DIALECT === 'yuewen') {
      for (const call of ['EnableSearch', 'DisableSearch']) {
        assert.equal(s.logs.lines.filter((l) => l.includes(`"call":"${call}"`) && l.includes('"level":40')).length, 1, `one warning for ${call}`);
      }
    }
  });

  test('the model list falls back to the known models, said once however often it is asked', async () => {
    for (let i = 0; i < 3; i++) assert.ok((await s.client().models.list()).data.length > 0);
    if (DIALECT === 'capy') assert.equal(s.logs.lines.filter((l) => l.includes('"call":"model list"')).length, 1);
  });
});

describe(`chat deletion renamed upstream (${DIALECT})`, () => {
  test('answers still succeed and the missing endpoint is said once, not per chat', async () => {
    const s = await startStack({ emulator: { fragment: false, removedCalls: ['DelChat', 'DeleteChatSession'] } });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await s.client().chat.completions.create(ask(`undeletable ${i}`));
        assert.equal(res.choices[0]!.message.content, s.emu.messages.at(-1)!.answer);
      }
      await waitFor(() => s.app.chatJanitor.stats().failures === 3, 'three deletions tried');
      assert.equal(s.logs.lines.filter((l) => l.includes('"call":"chat deletion"')).length, 1);
      assert.ok(!s.logs.text.includes('could not delete upstream chat'));
    } finally {
      // The chats cannot be deleted here, so the stack is closed without waiting for it.
      await s.close();
    }
  });
});

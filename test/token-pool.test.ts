import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { answerFor } from './emulator/index.js';
import { postAbortable, type Stack, startStack, suiteStack, waitFor } from './helpers.js';

const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });

describe('token pool', () => {
  const s = suiteStack({ emulator: { fragment: false } });

  test('100 concurrent first requests with one token make exactly one access-token request', async () => {
    const account = s.emu.addAccount();
    const before = s.emu.stats().registerDevice;
    const client = s.client(account.token);
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => client.chat.completions.create(ask(`concurrent ${i}`))));
    assert.equal(s.emu.stats().registerDevice - before, 1);
    answers.forEach((a, i) => assert.equal(a.choices[0]!.message.content, answerFor(`concurrent ${i}`).join('')));
  });

  test('an expired access token is refreshed once and the completion succeeds', async () => {
    await s.client().chat.completions.create(ask('warm up'));
    s.emu.expireAccessTokens();
    const before = s.emu.stats().registerDevice;
    const res = await s.client().chat.completions.create(ask('after expiry'));
    assert.equal(res.choices[0]!.message.content, answerFor('after expiry').join(''));
    assert.equal(s.emu.stats().registerDevice - before, 1);
  });

  test('an expired token on the streaming call is refreshed too', async () => {
    await s.client().chat.completions.create(ask('warm up again'));
    const before = s.emu.stats().registerDevice;
    s.emu.expireAccessTokens();
    // CreateChat answers 401 and is retried; the stream then also needs the new session.
    const res = await s.client().chat.completions.create({ ...ask('stream after expiry'), stream: true });
    let text = '';
    for await (const c of res) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, answerFor('stream after expiry').join(''));
    assert.equal(s.emu.stats().registerDevice - before, 1);
  });

  test('a session the upstream keeps refusing ends in 401 after one refresh', async () => {
    const before = s.emu.stats().registerDevice;
    await assert.rejects(s.client().chat.completions.create(ask('always refused #fault:401')), OpenAI.AuthenticationError);
    assert.equal(s.emu.stats().registerDevice - before, 1);
  });

  test('a dead token in the list fails over to a live one', async () => {
    const dead = s.emu.addAccount();
    s.emu.revokeAccount(dead.userToken);
    const live = s.emu.addAccount();
    const client = s.client(`${dead.token},${live.token}`);
    for (let i = 0; i < 4; i++) {
      const res = await client.chat.completions.create(ask(`failover ${i}`));
      assert.equal(res.choices[0]!.message.content, answerFor(`failover ${i}`).join(''));
    }
    assert.ok(s.emu.messages.slice(-4).every((m) => m.deviceId === live.deviceId));
  });

  test('requests are spread over the tokens given', async () => {
    const a = s.emu.addAccount();
    const b = s.emu.addAccount();
    const key = `${a.token},${b.token}`;
    s.client(key); // registers the key as a secret the log must not show
    const n = s.emu.messages.length;
    // Streams that never end keep all ten busy at once, so "least busy first" must split them 5/5
    // whatever the machine's speed (answers that finished early would free an account).
    const leave = new AbortController();
    const pending = Array.from({ length: 10 }, (_, i) => postAbortable(s, { ...ask(`spread ${i} #fault:stall`), stream: true }, leave.signal, key));
    await waitFor(() => s.emu.messages.length - n === 10, 'ten upstream streams open');
    const devices = s.emu.messages.slice(n).map((m) => m.deviceId);
    leave.abort();
    await Promise.all(pending);
    assert.equal(devices.filter((d) => d === a.deviceId).length, 5);
    assert.equal(devices.filter((d) => d === b.deviceId).length, 5);
    await s.settled();
  });

  test('/token/check says live for a good token and false for dead or malformed ones', async () => {
    const check = async (token: unknown) => {
      const res = await fetch(`${s.baseUrl}/token/check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
      assert.equal(res.status, 200);
      return ((await res.json()) as any).live;
    };
    const dead = s.emu.addAccount();
    s.emu.revokeAccount(dead.userToken);
    assert.equal(await check(s.token), true);
    assert.equal(await check(dead.token), false);
    assert.equal(await check('garbage'), false);
    assert.equal(await check(''), false);
  });
});

describe('server-side token pool (STEP_TOKENS with API_KEYS)', () => {
  const key = 'sk-gateway-key-7f3a';
  let s: Stack;
  let pooled: { token: string; deviceId: string }[] = [];
  before(async () => {
    s = await startStack({
      emulator: { fragment: false },
      config: (emu) => {
        pooled = [emu.addAccount(), emu.addAccount()];
        return { STEP_TOKENS: pooled.map((a) => a.token).join(','), API_KEYS: key };
      },
    });
  });
  after(async () => {
    await s.settled();
    await s.close();
    for (const a of pooled) assert.ok(!s.logs.text.includes(a.token.split('@')[1]!), 'pool tokens stay out of the log');
  });

  test('a client with the API key is served from the pool accounts', async () => {
    const res = await s.client(key).chat.completions.create(ask('from the pool'));
    assert.equal(res.choices[0]!.message.content, answerFor('from the pool').join(''));
    assert.ok(pooled.some((a) => a.deviceId === s.emu.messages.at(-1)!.deviceId));
  });

  test('a wrong API key is a 401', async () => {
    await assert.rejects(s.client('sk-wrong').chat.completions.create(ask('nope')), OpenAI.AuthenticationError);
  });

  test('when StepChat rejects every pool account the answer is 503, not the client\'s 401', async () => {
    s.emu.failNext('CreateChat', 429, { code: 'resource_exhausted', message: 'slow down' });
    const res = await s.client(key).chat.completions.create(ask('rate limited once, served by the other'));
    assert.equal(res.object, 'chat.completion');
    await s.settled(); // its chat is deleted before the accounts die
    for (const a of pooled) s.emu.revokeAccount(a.token.split('@')[1]!);
    s.emu.expireAccessTokens();
    await assert.rejects(s.client(key).chat.completions.create(ask('all dead')), (err: InstanceType<typeof OpenAI.APIError>) => err.status === 503);
  });

  test('a client may still bring its own StepChat token', async () => {
    await s.client(s.token).chat.completions.create(ask('own token'));
    assert.equal(s.emu.messages.at(-1)!.deviceId, s.token.split('@')[0]);
  });
});

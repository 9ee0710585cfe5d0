import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { answerFor, type Emulator } from './emulator/index.js';
import { suiteStack, type Stack } from './helpers.js';

const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });
const alice = 'sk-alice-0c1d2e3f';
const bob = 'sk-bob-9a8b7c6d';
const bare = 'sk-bare-5f5f5f5f';

/** A pool of two accounts behind named keys (and one bare key), with the given extra settings. */
function pool(pooled: { token: string }[], extra: Record<string, unknown> = {}) {
  return (emu: Emulator) => {
    pooled.push(emu.addAccount(), emu.addAccount());
    return { STEP_TOKENS: pooled.map((a) => a.token).join(','), API_KEYS: `alice:${alice}, bob:${bob}, ${bare}`, ADMIN_KEY: 'admin-keys-suite', ...extra };
  };
}

/** Checks that no body the test saw and no log line holds a pool token or an API key. */
function assertNoSecrets(s: Stack, pooled: { token: string }[], bodies: string[]): void {
  const secrets = [...pooled.map((a) => a.token.split('@')[1]!), alice, bob, bare];
  for (const secret of secrets) {
    assert.ok(!s.logs.text.includes(secret), 'a secret appeared in the log');
    assert.ok(!bodies.some((b) => b.includes(secret)), 'a secret appeared in a response body');
  }
}

describe('named API keys in front of the server pool', () => {
  const pooled: { token: string }[] = [];
  const s = suiteStack({ emulator: { fragment: false, frames: 4 }, config: pool(pooled) });
  const bodies: string[] = [];
  const post = async (headers: Record<string, string>) => {
    const res = await s.post(ask('key check'), headers);
    bodies.push(await res.clone().text());
    return res;
  };

  test('no key is a 401', async () => {
    const res = await fetch(`${s.baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask('no key')) });
    bodies.push(await res.clone().text());
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'missing_token');
  });

  test('a wrong key is a 401', async () => {
    const res = await post({ authorization: 'Bearer sk-alice-0c1d2e3X' });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
  });

  test('a named key and a bare key both reach the pool', async () => {
    for (const key of [alice, bare]) {
      const res = await s.client(key).chat.completions.create(ask(`with ${key.slice(3, 8)}`));
      assert.equal(res.choices[0]!.message.content, answerFor(`with ${key.slice(3, 8)}`, 4).join(''));
    }
  });

  test('a client may bring its own StepChat token by default', async () => {
    const res = await s.client(s.token).chat.completions.create(ask('own token allowed'));
    assert.equal(res.object, 'chat.completion');
  });

  test('the admin status counts requests and tokens per key name, never showing a key', async () => {
    const res = await fetch(`${s.baseUrl}/admin/accounts`, { headers: { authorization: 'Bearer admin-keys-suite' } });
    const text = await res.text();
    bodies.push(text);
    const keys = (JSON.parse(text) as { keys: { name: string; requests: number; rateLimited: number; promptTokens: number; completionTokens: number }[] }).keys;
    assert.deepEqual(keys.map((k) => k.name), ['alice', 'bob', 'key-3']);
    const byName = new Map(keys.map((k) => [k.name, k]));
    assert.equal(byName.get('alice')!.requests, 1);
    assert.equal(byName.get('key-3')!.requests, 1);
    assert.equal(byName.get('bob')!.requests, 0);
    assert.ok(byName.get('alice')!.promptTokens > 0 && byName.get('alice')!.completionTokens > 0);
  });

  test('no response body or log line holds a pool token or an API key', () => {
    assertNoSecrets(s, pooled, bodies);
  });
});

describe('ALLOW_CLIENT_TOKENS=false', () => {
  const pooled: { token: string }[] = [];
  const s = suiteStack({ emulator: { fragment: false, frames: 4 }, config: pool(pooled, { ALLOW_CLIENT_TOKENS: false }) });

  test('a client-supplied StepChat token is refused with 403 and never reaches StepChat', async () => {
    const before = s.emu.requests.length;
    const err = await s.client(s.token).chat.completions.create(ask('own token refused')).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.PermissionDeniedError);
    assert.equal((err.error as { code?: string }).code, 'client_tokens_disabled');
    assert.equal(s.emu.requests.length, before);
  });

  test('API keys still work', async () => {
    const res = await s.client(bob).chat.completions.create(ask('bob while tokens are refused'));
    assert.equal(res.object, 'chat.completion');
  });
});

describe('RATE_LIMIT_MAX=5 with API keys', () => {
  const pooled: { token: string }[] = [];
  const s = suiteStack({ emulator: { fragment: false, frames: 4 }, config: pool(pooled, { RATE_LIMIT_MAX: 5, RATE_LIMIT_WINDOW_MS: 600_000 }) });

  test('five completions, then 429 in the OpenAI shape with Retry-After', async () => {
    const client = s.client(alice);
    for (let i = 0; i < 5; i++) await client.chat.completions.create(ask(`alice ${i}`));
    const res = await s.post(ask('alice over the limit'), { authorization: `Bearer ${alice}` });
    assert.equal(res.status, 429);
    assert.match(res.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    const body = (await res.json()) as { error: { type: string; code: string; message: string } };
    assert.equal(body.error.type, 'rate_limit_error');
    assert.equal(body.error.code, 'rate_limited');
    assert.match(body.error.message, /API key alice/);
    await assert.rejects(client.chat.completions.create(ask('alice via the SDK')), OpenAI.RateLimitError);
    const admin = await fetch(`${s.baseUrl}/admin/accounts`, { headers: { authorization: 'Bearer admin-keys-suite' } });
    const alices = ((await admin.json()) as { keys: { name: string; rateLimited: number }[] }).keys.find((k) => k.name === 'alice')!;
    assert.equal(alices.rateLimited, 2);
  });

  test('the limit is per key: another key from the same address still works', async () => {
    const res = await s.client(bob).chat.completions.create(ask('bob has his own budget'));
    assert.equal(res.object, 'chat.completion');
  });
});

describe('RATE_LIMIT_MAX=5 without API keys: per client IP', () => {
  const s = suiteStack({ emulator: { fragment: false, frames: 4 }, config: { RATE_LIMIT_MAX: 5, RATE_LIMIT_WINDOW_MS: 600_000 } });

  test('a forged X-Forwarded-For does not buy a new budget (TRUST_PROXY off)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await s.post(ask(`by ip ${i}`), { 'x-forwarded-for': `203.0.113.${i + 1}` });
      await res.text();
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  });
});

describe('RATE_LIMIT_MAX=5 with TRUST_PROXY=true', () => {
  const s = suiteStack({ emulator: { fragment: false, frames: 4 }, config: { RATE_LIMIT_MAX: 5, RATE_LIMIT_WINDOW_MS: 600_000, TRUST_PROXY: 'true' } });

  test('each forwarded client address has its own budget', async () => {
    const send = async (ip: string) => {
      const res = await s.post(ask(`from ${ip}`), { 'x-forwarded-for': ip });
      await res.text();
      return res.status;
    };
    for (let i = 0; i < 5; i++) assert.equal(await send('198.51.100.7'), 200);
    assert.equal(await send('198.51.100.7'), 429);
    assert.equal(await send('198.51.100.8'), 200);
  });
});

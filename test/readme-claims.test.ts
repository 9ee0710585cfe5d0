import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { answerFor, CAPY_PATHS, YUEWEN_PATHS } from './emulator/index.js';
import { collectStream, DIALECT, startStack, suiteStack, type Stack } from './helpers.js';

// Settings and behaviours README.md promises that no other suite exercised.

const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'step', messages: [{ role: 'user' as const, content }], ...extra });
const REFRESH_PATH = DIALECT === 'capy' ? CAPY_PATHS.refreshToken : YUEWEN_PATHS.registerDevice;

/** Runs `body` against a stack of its own, then checks chats and log and closes it. */
async function withStack(opts: Parameters<typeof startStack>[0], body: (s: Stack) => Promise<void>): Promise<void> {
  const s = await startStack(opts);
  try {
    await body(s);
  } finally {
    await s.settled();
    await s.close();
  }
}

/** The `exp` claim of a JWT, in ms. */
function jwtExpMs(token: string): number {
  return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number }).exp * 1000;
}

/** Sequential completions until the service refreshed twice (pair-cookie refreshes); returns the calls since `from`. */
async function untilTwoRefreshes(s: Stack) {
  const from = s.emu.requests.length;
  const refreshes = () => s.emu.requests.slice(from).filter((r) => r.path === REFRESH_PATH && /Oasis-Token=[^;]+\.\.\./.test(String(r.headers.cookie)));
  const until = Date.now() + 30_000;
  for (let i = 0; refreshes().length < 2; i++) {
    assert.ok(Date.now() < until, 'two refreshes within 30 s');
    const res = await s.client().chat.completions.create(ask(`refresh ${i}`));
    assert.equal(res.choices[0]!.message.content, answerFor(`refresh ${i}`).join(''));
  }
  const calls = s.emu.requests.slice(from);
  assert.deepEqual(calls.filter((r) => r.status === 401).map((r) => r.path), [], 'no upstream call was answered 401');
  return refreshes();
}

describe('TOKEN_REFRESH_MARGIN_MS', () => {
  // Ten-second access tokens refreshed eight seconds early: each is used for about two seconds.
  const s = suiteStack({ emulator: { accessTtlMs: 10_000, fragment: false }, config: { TOKEN_REFRESH_MARGIN_MS: 8000 } });

  test('a short-lived access token is refreshed before it expires, so the upstream never answers 401', async () => {
    for (const r of await untilTwoRefreshes(s)) {
      const access = /Oasis-Token=([^;]+?)\.\.\./.exec(String(r.headers.cookie))![1]!;
      const left = jwtExpMs(access) - r.at;
      // Refreshed once fewer than 8 s were left, and before the token expired.
      assert.ok(left > 0 && left <= 8000, `refreshed with ${left} ms left`);
    }
  });
});

describe('ACCESS_TOKEN_TTL_MS', () => {
  // Access tokens that are not JWTs: only the configured lifetime tells the service when to refresh.
  const s = suiteStack({
    emulator: { accessTtlMs: 10_000, opaqueAccessTokens: true, fragment: false },
    config: { ACCESS_TOKEN_TTL_MS: 10_000, TOKEN_REFRESH_MARGIN_MS: 8000 },
  });

  test('a token without an expiry is assumed to live ACCESS_TOKEN_TTL_MS and refreshed before then', async () => {
    const refreshes = await untilTwoRefreshes(s);
    assert.ok(refreshes.every((r) => /Oasis-Token=at_/.test(String(r.headers.cookie))), 'the tokens were opaque');
  });
});

describe('MODELS_REFRESH_MS (capy)', { skip: DIALECT !== 'capy' }, () => {
  const listed = async (s: Stack) => {
    const res = await fetch(`${s.baseUrl}/v1/models`, { headers: { authorization: `Bearer ${s.token}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
  };
  const asked = (s: Stack) => s.emu.requests.filter((r) => r.path === CAPY_PATHS.getChatConfig).length;

  test('the upstream model list is cached: a changed list shows only after MODELS_REFRESH_MS', async () => {
    await withStack({}, async (s) => {
      assert.ok((await listed(s)).includes('step-auto'));
      const calls = asked(s);
      s.emu.configure({ models: ['step-auto', 'brand-new-model'] });
      assert.ok(!(await listed(s)).includes('brand-new-model'), 'the cached list (600000 ms by default)');
      assert.equal(asked(s), calls, 'no second GetChatConfig');
    });
  });

  test('with a short MODELS_REFRESH_MS the next listing asks the upstream again', async () => {
    await withStack({ config: { MODELS_REFRESH_MS: 1 } }, async (s) => {
      await listed(s);
      const calls = asked(s);
      s.emu.configure({ models: ['step-auto', 'brand-new-model'] });
      await new Promise((r) => setTimeout(r, 5));
      assert.ok((await listed(s)).includes('brand-new-model'));
      assert.equal(asked(s), calls + 1);
    });
  });
});

describe('credentials.json (capy)', { skip: DIALECT !== 'capy' }, () => {
  const s = suiteStack();

  test('the rotated credentials are stored in a file only its owner can read and write', async () => {
    await s.client().chat.completions.create(ask('store me'));
    const file = join(s.app.config.DATA_DIR, 'credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600, 'credentials.json is 0600');
  });
});

describe('model names and reasoning options (capy)', { skip: DIALECT !== 'capy' }, () => {
  const s = suiteStack({ config: { DEFAULT_MODEL: 'step-2-16k' } });

  test('a -reasoning model name turns reasoning on for the base model', async () => {
    const res = await s.client().chat.completions.create({ ...ask('reason please'), model: 'deepseek-r1-reasoning' });
    assert.deepEqual([s.emu.messages.at(-1)!.model, s.emu.messages.at(-1)!.reasoning], ['deepseek-r1', true]);
    assert.ok((res.choices[0]!.message as { reasoning_content?: string }).reasoning_content);
  });

  test('reasoning_effort "none" leaves reasoning off, any other value turns it on', async () => {
    await s.post(ask('no effort', { reasoning_effort: 'none' })).then((r) => r.json());
    assert.equal(s.emu.messages.at(-1)!.reasoning, false);
    await s.post(ask('low effort', { reasoning_effort: 'low' })).then((r) => r.json());
    assert.equal(s.emu.messages.at(-1)!.reasoning, true);
  });

  test('DEFAULT_MODEL is the upstream model for names the upstream does not list', async () => {
    const res = await s.client().chat.completions.create({ ...ask('which model'), model: 'gpt-4o' });
    assert.equal(s.emu.messages.at(-1)!.model, 'step-2-16k');
    assert.equal(res.model, 'gpt-4o', 'the requested name is echoed back');
  });
});

describe('REASONING_OUTPUT in the other mode (capy)', { skip: DIALECT !== 'capy' }, () => {
  test('think-tags without streaming puts the reasoning in <think> at the start of message.content', async () => {
    await withStack({ config: { REASONING_OUTPUT: 'think-tags' } }, async (s) => {
      const res = await s.client().chat.completions.create({ ...ask('tags whole'), model: 'step-auto-think' });
      const message = res.choices[0]!.message as { content: string; reasoning_content?: string };
      assert.equal(message.reasoning_content, undefined);
      const m = /^<think>\n([\s\S]+)\n<\/think>\n\n([\s\S]*)$/.exec(message.content);
      assert.ok(m, 'content starts with a <think> block');
      assert.equal(m[2], answerFor('tags whole').join(''));
    });
  });

  test('hidden with streaming sends no reasoning at all, only the answer', async () => {
    await withStack({ config: { REASONING_OUTPUT: 'hidden' } }, async (s) => {
      const stream = await s.client().chat.completions.create({ ...ask('hide stream'), model: 'step-auto-think', stream: true });
      const { content, reasoning, chunks } = await collectStream(stream);
      assert.equal(s.emu.messages.at(-1)!.reasoning, true, 'the upstream was asked to reason');
      assert.equal(reasoning, '');
      assert.ok(chunks.every((c) => !('reasoning_content' in (c.choices[0]?.delta ?? {}))));
      assert.equal(content, answerFor('hide stream').join(''));
    });
  });
});

describe('CORS_ORIGIN', () => {
  const s = suiteStack({ config: { CORS_ORIGIN: 'https://chat.example, https://other.example' } });
  const preflight = (origin: string) =>
    fetch(`${s.baseUrl}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });

  test('a listed origin is allowed, in the preflight and on the answer', async () => {
    assert.equal((await preflight('https://other.example')).headers.get('access-control-allow-origin'), 'https://other.example');
    const res = await s.post(ask('cors'), { origin: 'https://chat.example' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://chat.example');
    await res.text();
  });

  test('an origin not listed gets no CORS allowance', async () => {
    assert.equal((await preflight('https://evil.example')).headers.get('access-control-allow-origin'), null);
    const res = await s.post(ask('cors denied'), { origin: 'https://evil.example' });
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    await res.text();
  });
});

describe('ATTACHMENT_MAX_REDIRECTS', () => {
  const s = suiteStack({ config: { ATTACHMENT_ALLOW_HOSTS: '127.0.0.1', ATTACHMENT_MAX_REDIRECTS: 1 } });
  // The emulator's `redirect?hops=n` answers n + 1 redirects before the file.
  const viaRedirects = (hops: number) =>
    ask('', { messages: [{ role: 'user', content: [{ type: 'text', text: `after ${hops} redirects` }, { type: 'image_url', image_url: { url: `${s.emu.url}/files/redirect?hops=${hops - 1}&to=${encodeURIComponent('/files/photo.jpg')}` } }] }] });

  test('an attachment URL is followed through that many redirects and refused past them', async () => {
    const followed = await s.post(viaRedirects(1));
    assert.equal(followed.status, 200);
    assert.equal(s.emu.uploads.at(-1)!.size, (await (await fetch(`${s.emu.url}/files/photo.jpg`)).arrayBuffer()).byteLength);
    await followed.text();
    const chats = s.emu.stats().chatsCreated;
    const refused = await s.post(viaRedirects(2));
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /redirects/);
    assert.equal(s.emu.stats().chatsCreated, chats, 'no upstream chat for a refused attachment');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { suiteStack } from './helpers.js';

// The emulator runs with echoCredentials: every error it sends (unary body, stream start, error
// event, trailer, HTML page) quotes the request's Cookie header and its bare token values.

const ask = (content: string, stream = false) => ({ model: 'step', stream, messages: [{ role: 'user' as const, content }] });
const API_KEY = 'client-key-4f9a2c71e0';

describe('secrets quoted in upstream error text never reach a client or the log', () => {
  let pooled!: { token: string; deviceId: string; userToken: string };
  const s = suiteStack({
    emulator: { echoCredentials: true },
    config: (emu) => {
      pooled = emu.addAccount();
      // A failed pool account cools down for 1 ms only, so the next test's request reaches it again.
      return { STEP_TOKENS: pooled.token, API_KEYS: API_KEY, ACCOUNT_BACKOFF_MIN_MS: 1 };
    },
  });

  /** Every secret the service holds or has seen: user tokens, the current (rotated) refresh tokens, the API key. */
  function secrets(): string[] {
    const own = s.token.slice(s.token.indexOf('@') + 1);
    const deviceOf = (t: string) => t.slice(0, t.indexOf('@'));
    const current = [deviceOf(s.token), pooled.deviceId].map((d) => s.emu.currentRefreshToken(d) ?? '');
    return [own, pooled.userToken, API_KEY, ...current].filter(Boolean);
  }

  function assertClean(text: string, where: string): void {
    for (const secret of secrets()) assert.ok(!text.includes(secret), `a token appeared in ${where}`);
    assert.doesNotMatch(text, /Oasis-Token=/, `a cookie appeared in ${where}`);
    assert.doesNotMatch(text, /eyJ[\w-]{10,}\.[\w-]{10,}/, `an access token appeared in ${where}`);
  }

  async function errorText(res: Response, status: number): Promise<string> {
    assert.equal(res.status, status);
    const text = await res.text();
    assert.equal(typeof JSON.parse(text).error.message, 'string');
    return text;
  }

  test('a unary error quoting the cookie is a 502 without it', async () => {
    s.emu.failNext('CreateChat', 500);
    const text = await errorText(await s.post(ask('unary')), 502);
    assert.match(text, /emulated failure/);
    assertClean(text, 'the error body');
    assertClean(s.logs.text, 'the log');
  });

  // The pool's only account failing is a 503 (no usable account), not the upstream's 502.
  test('a client holding only an API key never sees the pool account secrets', async () => {
    s.emu.failNext('CreateChat', 500);
    const text = await errorText(await s.post(ask('pooled'), { authorization: `Bearer ${API_KEY}` }), 503);
    assertClean(text, 'the error body');
    await new Promise((r) => setTimeout(r, 5));
    s.emu.failNext('SendMessageStream', 500);
    assertClean(await errorText(await s.post(ask('pooled stream', true), { authorization: `Bearer ${API_KEY}` }), 503), 'the error body');
    assertClean(s.logs.text, 'the log');
  });

  test('a stream whose upstream fails at its start gets a 502 without the cookie', async () => {
    s.emu.failNext('SendMessageStream', 503);
    assertClean(await errorText(await s.post(ask('stream start', true)), 502), 'the error body');
    assertClean(s.logs.text, 'the log');
  });

  test('an error event mid-stream is passed on without the cookie', async () => {
    const res = await s.post(ask('event #fault:error-event', true));
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /emulated upstream error/);
    assertClean(text, 'the stream');
    assertClean(s.logs.text, 'the log');
  });

  test('an error trailer is passed on without the cookie, stream or not', async () => {
    const text = await errorText(await s.post(ask('trailer #fault:error-trailer')), 502);
    assert.match(text, /emulated trailer error/);
    assertClean(text, 'the error body');
    const res = await s.post(ask('trailer #fault:error-trailer', true));
    assertClean(await res.text(), 'the stream');
    assertClean(s.logs.text, 'the log');
  });

  test('an HTML error page quoting the cookie is a 502 without it', async () => {
    s.emu.failNext('CreateChat', 502, { html: '<html><body><h1>502 Bad Gateway</h1></body></html>' });
    const text = await errorText(await s.post(ask('html page')), 502);
    assert.match(text, /Bad Gateway/);
    assertClean(text, 'the error body');
    assertClean(s.logs.text, 'the log');
  });

  test('/token/check does not echo the token an upstream error quotes', async () => {
    const fresh = s.emu.addAccount();
    s.emu.failNext('RegisterDevice', 500);
    const res = await fetch(`${s.baseUrl}/token/check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: fresh.token }) });
    const text = await errorText(res, 502);
    assert.ok(!text.includes(fresh.userToken), 'the checked token appeared in the error body');
    assertClean(text, 'the error body');
    assert.ok(!s.logs.text.includes(fresh.userToken), 'the checked token appeared in the log');
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DIALECT, startStack, type Stack } from './helpers.js';
import { YUEWEN_PATHS } from './emulator/index.js';
import { webHeaders } from './emulator/web-headers.js';

// The emulator rotates strictly in both dialects (the presented refresh token dies at each
// refresh) and, after the first login, honours only the browser's cookie pair: an account
// that survives several refreshes was presented exactly as the web app presents it.

const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });

describe(`session cookies under strict rotation (${DIALECT})`, () => {
  let s: Stack;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-cookies-'));
    s = await startStack({ dataDir, emulator: { fragment: false } });
  });
  after(async () => {
    await s.settled();
    await s.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Expires every access token, asks once, and checks the answer is the upstream's. */
  async function askAfterExpiry(what: string): Promise<void> {
    s.emu.expireAccessTokens();
    const res = await s.client().chat.completions.create(ask(what));
    assert.equal(res.choices[0]!.message.content, s.emu.messages.at(-1)!.answer);
  }

  test('an account survives five access-token expiries in a row, each refresh presenting <access>...<refresh>', async () => {
    const deviceId = s.token.split('@')[0]!;
    await s.client().chat.completions.create(ask('first login'));
    const refreshes = s.emu.stats().registerDevice;
    const seen = new Set([s.emu.currentRefreshToken(deviceId)]);
    for (let i = 0; i < 5; i++) {
      await askAfterExpiry(`expiry ${i}`);
      seen.add(s.emu.currentRefreshToken(deviceId));
    }
    assert.equal(s.emu.stats().registerDevice - refreshes, 5, 'one refresh per expiry');
    assert.equal(seen.size, 6, 'every refresh rotated the refresh token');
    const forms = s.emu.refreshCookies.filter((c) => c.deviceId === deviceId).map((c) => c.form);
    // The user configured a bare refresh token: only the very first login can present it.
    assert.deepEqual(forms, ['bare', 'pair', 'pair', 'pair', 'pair', 'pair']);
    assert.equal(s.emu.stats().guestTokens, 0);
  });

  test('after a restart with the same DATA_DIR the rotated chain goes on', async () => {
    await s.restart();
    await askAfterExpiry('after restart');
    await askAfterExpiry('after restart, again');
    assert.equal(s.emu.refreshCookies.at(-1)!.form, 'pair');
  });

  test('tokens handed out only in Set-Cookie (no JSON body) are the ones used next', async () => {
    s.emu.configure({ tokensInBody: false });
    try {
      await askAfterExpiry('cookie only 1');
      await askAfterExpiry('cookie only 2');
      await askAfterExpiry('cookie only 3');
    } finally {
      s.emu.configure({ tokensInBody: true });
    }
    assert.equal(s.emu.stats().guestTokens, 0);
  });

  test('a new Oasis-Webid from Set-Cookie replaces the device id together with the tokens', async () => {
    const before = s.token.split('@')[0]!;
    const current = s.emu.currentRefreshToken(before);
    assert.ok(current, 'the account is known');
    s.emu.renewDeviceId(before);
    await askAfterExpiry('webid renewed');
    const renewed = s.emu.deviceOf(s.emu.currentRefreshToken(s.emu.messages.at(-1)!.deviceId)!);
    assert.ok(renewed && renewed !== before, 'the upstream handed out a new device id');
    assert.equal(s.emu.messages.at(-1)!.deviceId, renewed, 'the answer came on the new device id');
    await askAfterExpiry('webid renewed, next refresh');
    assert.equal(s.emu.refreshCookies.at(-1)!.deviceId, renewed);
  });

  test('the upstream refuses a bare Oasis-Token on an API call with 401 "token is illegal"', async () => {
    const path = DIALECT === 'capy' ? '/api/agent/capy.agent.v1.AgentService/CreateChatSession' : YUEWEN_PATHS.createChat;
    const deviceId = s.token.split('@')[0]!;
    const res = await fetch(s.emu.url + path, {
      method: 'POST',
      headers: {
        ...webHeaders(DIALECT, s.emu.url, deviceId),
        'content-type': 'application/json',
        cookie: `Oasis-Token=${s.emu.currentRefreshToken(deviceId) ?? 'x'}; Oasis-Webid=${deviceId}`,
      },
      body: '{}',
    });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { code: 'unauthenticated', message: 'token is illegal' });
  });
});

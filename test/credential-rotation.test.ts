import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DIALECT, startStack, type Stack } from './helpers.js';

const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });

describe('rotating credentials (capy)', { skip: DIALECT !== 'capy' }, () => {
  let s: Stack;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-rotation-'));
    s = await startStack({ dataDir, emulator: { fragment: false } });
  });
  after(async () => {
    await s.settled();
    await s.close();
  });

  const deviceId = () => s.token.split('@')[0]!;
  const original = () => s.token.split('@')[1]!;

  test('a refresh that rotates the refresh token is followed by requests using the new one', async () => {
    await s.client().chat.completions.create(ask('first'));
    const rotated = s.emu.currentRefreshToken(deviceId());
    assert.ok(rotated && rotated !== original(), 'the upstream rotated the refresh token');
    // The old refresh token is now invalid upstream: only the rotated one can log in again.
    s.emu.expireAccessTokens();
    const guests = s.emu.stats().guestTokens;
    const res = await s.client().chat.completions.create(ask('after rotation'));
    assert.equal(res.object, 'chat.completion');
    assert.equal(s.emu.stats().guestTokens, guests, 'no login with a stale refresh token');
    assert.notEqual(s.emu.currentRefreshToken(deviceId()), rotated, 'rotated again');
  });

  test('the newest credentials are stored under DATA_DIR, not in clear in the log', async () => {
    const stored = readFileSync(join(dataDir, 'credentials.json'), 'utf8');
    assert.ok(stored.includes(s.emu.currentRefreshToken(deviceId())!));
    assert.ok(!s.logs.text.includes(s.emu.currentRefreshToken(deviceId())!));
  });

  test('after a restart the stored newest credentials are used', async () => {
    await s.restart();
    s.emu.expireAccessTokens();
    const guests = s.emu.stats().guestTokens;
    // The client still sends its original token; the service logs in with the stored newest one.
    const res = await s.client().chat.completions.create(ask('after restart'));
    assert.equal(res.object, 'chat.completion');
    assert.equal(s.emu.stats().guestTokens, guests);
  });

  test('a guest-token reply marks the token dead: 401 on completions and live: false on /token/check', async () => {
    const account = s.emu.addAccount();
    s.emu.revokeAccount(account.userToken);
    await assert.rejects(s.client(account.token).chat.completions.create(ask('guest')), OpenAI.AuthenticationError);
    const res = await fetch(`${s.baseUrl}/token/check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: account.token }) });
    assert.deepEqual(await res.json(), { live: false });
    assert.ok(s.emu.stats().guestTokens > 0);
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DIALECT, startStack, type Stack } from './helpers.js';

const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });

// The upstream's clients present `Oasis-Token=<access>...<refresh>` as the browser's cookie jar holds it.
describe(`browser-faithful credentials (${DIALECT})`, () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ dataDir: mkdtempSync(join(tmpdir(), 'step-gateway-cookie-')), emulator: { fragment: false } });
  });
  after(async () => {
    await s.settled();
    await s.close();
  });
  const deviceId = () => s.token.split('@')[0]!;

  test('five refreshes in a row with expired access tokens all succeed, each presenting <access>...<refresh>', async () => {
    for (let i = 0; i < 6; i++) {
      s.emu.expireAccessTokens();
      const res = await s.client().chat.completions.create(ask(`turn ${i}`));
      assert.equal(res.object, 'chat.completion');
    }
    assert.equal(s.emu.stats().guestTokens, 0);
    const forms = s.emu.refreshCookies.filter((c) => c.deviceId === deviceId()).map((c) => c.form);
    assert.equal(forms.length, 6);
    // The first login has only the user's bare refresh token; every refresh after it sends the pair.
    assert.deepEqual(forms.slice(1), ['pair', 'pair', 'pair', 'pair', 'pair']);
  });

  test('a restart with the same DATA_DIR still refreshes with the stored pair', async () => {
    await s.restart();
    s.emu.expireAccessTokens();
    const res = await s.client().chat.completions.create(ask('after restart'));
    assert.equal(res.object, 'chat.completion');
    assert.equal(s.emu.refreshCookies.at(-1)!.form, 'pair');
    assert.equal(s.emu.stats().guestTokens, 0);
  });

  test("a user token given as the browser's whole cookie value deviceId@<access>...<refresh> works", async () => {
    const account = s.emu.addAccount();
    for (let i = 0; i < 2; i++) {
      s.emu.expireAccessTokens();
      const res = await s.client(account.browserToken).chat.completions.create(ask(`browser cookie ${i}`));
      assert.equal(res.object, 'chat.completion');
    }
    const forms = s.emu.refreshCookies.filter((c) => c.deviceId === account.deviceId).map((c) => c.form);
    assert.deepEqual(forms, ['pair', 'pair']);
    assert.equal(s.emu.stats().guestTokens, 0);
  });
});

describe('changing STEP_DIALECT with the same DATA_DIR', { skip: DIALECT !== 'capy' }, () => {
  test("never feeds one upstream's rotated tokens to another", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-switch-'));
    const capy = await startStack({ dataDir, emulator: { dialect: 'capy', fragment: false }, config: { STEP_DIALECT: 'capy' } });
    const [deviceId, userToken] = capy.token.split('@') as [string, string];
    try {
      await capy.client().chat.completions.create(ask('on capy'));
      assert.notEqual(capy.emu.currentRefreshToken(deviceId), userToken, 'capy rotated the refresh token');
    } finally {
      await capy.settled();
      await capy.close();
    }
    const yuewen = await startStack({ dataDir, emulator: { dialect: 'yuewen', fragment: false }, config: { STEP_DIALECT: 'yuewen' } });
    try {
      // The same account on the other upstream knows only the user's own token.
      const same = yuewen.emu.addAccount(deviceId, userToken);
      const res = await yuewen.client(same.token).chat.completions.create(ask('on yuewen'));
      assert.equal(res.object, 'chat.completion');
    } finally {
      await yuewen.settled();
      await yuewen.close();
    }
  });
});

// @dialect capy
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { replicaSuite } from './processes.js';

// capy rotates refresh tokens strictly: a replica refreshing on its own would revoke the token
// the other holds. Through Redis one replica refreshes under the account's lock and the other
// reads the jar it committed.

describe('two replicas, one strictly rotating account', () => {
  const rs = replicaSuite({ frames: 5 });


  test('requests alternating between them across 6 access-token expiries all succeed, one refresh per expiry', async () => {
    const ask = async (i: number) => {
      const r = await rs.replicas[i % 2]!.client(rs.token).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: `turn ${i}` }] });
      assert.ok(r.choices[0]?.message.content, `request ${i} answered`);
    };
    let n = 0;
    await ask(n++);
    await ask(n++);
    assert.equal(rs.emu.stats().registerDevice, 1, 'the first session was shared');
    for (let expiry = 1; expiry <= 6; expiry++) {
      rs.emu.expireAccessTokens();
      for (let k = 0; k < 4; k++) await ask(n++);
      assert.equal(rs.emu.stats().registerDevice, 1 + expiry, `one refresh for expiry ${expiry}`);
    }
    assert.equal(rs.emu.stats().guestTokens, 0, 'no replica presented a revoked refresh token');
  });

  test('simultaneous requests on both replicas after an expiry still refresh once', async () => {
    const before = rs.emu.stats().registerDevice;
    rs.emu.expireAccessTokens();
    const all = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => rs.replicas[i % 2]!.client(rs.token).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: `together ${i}` }] })),
    );
    assert.deepEqual(all.map((r) => r.status), Array(6).fill('fulfilled'));
    assert.equal(rs.emu.stats().registerDevice, before + 1);
    assert.equal(rs.emu.stats().guestTokens, 0);
  });

  test('no refresh or access token reaches either replica\'s log', () => {
    const device = rs.token.slice(0, rs.token.indexOf('@'));
    const secrets = [rs.token.slice(rs.token.indexOf('@') + 1), rs.emu.currentRefreshToken(device)!];
    for (const r of rs.replicas) {
      for (const secret of secrets) assert.ok(!r.output().includes(secret), 'a refresh token in the log');
      assert.doesNotMatch(r.output(), /Oasis-Token=|eyJ[\w-]{10,}\.[\w-]{10,}/);
    }
  });
});

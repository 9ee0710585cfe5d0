// @dialect capy
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from './emulator/index.js';
import { DIALECT } from './helpers.js';
import { spawnService, startRedis, type RedisProcess, type ServiceProcess } from './processes.js';

// capy rotates refresh tokens strictly: a replica refreshing on its own would revoke the token
// the other holds. Through Redis one replica refreshes under the account's lock and the other
// reads the jar it committed.

describe('two replicas, one strictly rotating account', () => {
  let emu: Emulator;
  let redis: RedisProcess;
  let token = '';
  const dirs: string[] = [];
  const replicas: ServiceProcess[] = [];

  before(async () => {
    emu = await startEmulator({ dialect: DIALECT, frames: 5 });
    token = emu.addAccount().token;
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-replica-'));
      dirs.push(dataDir);
      replicas.push(await spawnService({ STEP_DIALECT: DIALECT, STEP_BASE_URL: emu.url, DATA_DIR: dataDir, REDIS_URL: redis.url }));
    }
  });
  after(async () => {
    for (const r of replicas) await r.stop();
    await redis.close();
    await emu.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('requests alternating between them across 6 access-token expiries all succeed, one refresh per expiry', async () => {
    const ask = async (i: number) => {
      const r = await replicas[i % 2]!.client(token).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: `turn ${i}` }] });
      assert.ok(r.choices[0]?.message.content, `request ${i} answered`);
    };
    let n = 0;
    await ask(n++);
    await ask(n++);
    assert.equal(emu.stats().registerDevice, 1, 'the first session was shared');
    for (let expiry = 1; expiry <= 6; expiry++) {
      emu.expireAccessTokens();
      for (let k = 0; k < 4; k++) await ask(n++);
      assert.equal(emu.stats().registerDevice, 1 + expiry, `one refresh for expiry ${expiry}`);
    }
    assert.equal(emu.stats().guestTokens, 0, 'no replica presented a revoked refresh token');
  });

  test('simultaneous requests on both replicas after an expiry still refresh once', async () => {
    const before = emu.stats().registerDevice;
    emu.expireAccessTokens();
    const all = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => replicas[i % 2]!.client(token).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: `together ${i}` }] })),
    );
    assert.deepEqual(all.map((r) => r.status), Array(6).fill('fulfilled'));
    assert.equal(emu.stats().registerDevice, before + 1);
    assert.equal(emu.stats().guestTokens, 0);
  });

  test('no refresh or access token reaches either replica\'s log', () => {
    const device = token.slice(0, token.indexOf('@'));
    const secrets = [token.slice(token.indexOf('@') + 1), emu.currentRefreshToken(device)!];
    for (const r of replicas) {
      for (const secret of secrets) assert.ok(!r.output().includes(secret), 'a refresh token in the log');
      assert.doesNotMatch(r.output(), /Oasis-Token=|eyJ[\w-]{10,}\.[\w-]{10,}/);
    }
  });
});

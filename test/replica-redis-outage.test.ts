// @dialect capy
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from './emulator/index.js';
import { DIALECT } from './helpers.js';
import { eventually, spawnService, startRedis, type RedisProcess, type ServiceProcess } from './processes.js';

// Redis is a help, not a dependency: while it is gone each replica goes on with what it holds,
// and once it is back (empty: this one keeps nothing on disk) they share state again.

describe('Redis stopped while two replicas run', () => {
  let emu: Emulator;
  let redis: RedisProcess;
  let token = '';
  const dirs: string[] = [];
  const replicas: ServiceProcess[] = [];
  const ask = async (i: number) => {
    const r = await replicas[i % 2]!.client(token).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: `outage ${i}` }] });
    assert.ok(r.choices[0]?.message.content, `request ${i} answered`);
  };
  const ready = async (r: ServiceProcess) => {
    const res = await fetch(`${r.url}/readyz`);
    return { code: res.status, body: (await res.json()) as { status: string; reason?: string } };
  };
  const metric = async (r: ServiceProcess, name: string) => {
    const text = await (await fetch(`${r.url}/metrics`)).text();
    return Number(new RegExp(`^step_gateway_${name} (\\S+)$`, 'm').exec(text)?.[1]);
  };

  before(async () => {
    emu = await startEmulator({ dialect: DIALECT, frames: 5 });
    token = emu.addAccount().token;
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-replica-'));
      dirs.push(dataDir);
      replicas.push(await spawnService({ STEP_DIALECT: DIALECT, STEP_BASE_URL: emu.url, DATA_DIR: dataDir, REDIS_URL: redis.url }));
    }
    await ask(0);
    await ask(1);
  });
  after(async () => {
    for (const r of replicas) await r.stop();
    await redis.close();
    await emu.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('completions keep succeeding; /readyz says degraded with 200, the metric and one log line say why', async () => {
    await redis.stop();
    for (const r of replicas) await eventually(() => /Redis is unreachable: working on local state/.test(r.output()), 'the outage logged');
    for (let i = 0; i < 6; i++) await ask(i);
    for (const r of replicas) {
      assert.deepEqual(await ready(r), { code: 200, body: { status: 'degraded', reason: 'Redis unreachable: working on local state' } });
      assert.equal(await metric(r, 'redis_up'), 0);
      assert.ok((await metric(r, 'redis_errors')) > 0);
      assert.equal(r.output().match(/Redis is unreachable/g)?.length, 1, 'said once');
    }
  });

  test('after Redis returns, the replicas share credentials again: one refresh per expiry', async () => {
    await redis.start();
    for (const r of replicas) await eventually(() => /Redis is back/.test(r.output()), 'the return logged');
    for (const r of replicas) assert.deepEqual(await ready(r), { code: 200, body: { status: 'ready' } });
    for (let expiry = 1; expiry <= 2; expiry++) {
      const before = emu.stats().registerDevice;
      emu.expireAccessTokens();
      for (let i = 0; i < 4; i++) await ask(i);
      assert.equal(emu.stats().registerDevice, before + 1, `one refresh for expiry ${expiry}`);
    }
    assert.equal(emu.stats().guestTokens, 0);
    for (const r of replicas) assert.equal(await metric(r, 'redis_up'), 1);
  });

  test('a replica started while Redis is down serves, degraded, and joins once Redis answers', async () => {
    await redis.stop();
    const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-replica-'));
    dirs.push(dataDir);
    const late = await spawnService({ STEP_DIALECT: DIALECT, STEP_BASE_URL: emu.url, DATA_DIR: dataDir, REDIS_URL: redis.url });
    replicas.push(late);
    assert.deepEqual(await ready(late), { code: 200, body: { status: 'degraded', reason: 'Redis unreachable: working on local state' } });
    assert.match(late.output(), /Redis is unreachable at start/);
    await redis.start();
    await eventually(() => /Redis is back/.test(late.output()), 'the late replica connected');
    assert.deepEqual(await ready(late), { code: 200, body: { status: 'ready' } });
  });
});

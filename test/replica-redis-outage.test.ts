// @dialect capy
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { eventually, replicaSuite, type ServiceProcess } from './processes.js';

// Redis is a help, not a dependency: while it is gone each replica goes on with what it holds,
// and once it is back (empty: this one keeps nothing on disk) they share state again.

describe('Redis stopped while two replicas run', () => {
  const rs = replicaSuite({ frames: 5 });
  const ask = async (i: number) => {
    const r = await rs.replicas[i % 2]!.client(rs.token).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: `outage ${i}` }] });
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
    await ask(0);
    await ask(1);
  });

  test('completions keep succeeding; /readyz says degraded with 200, the metric and one log line say why', async () => {
    await rs.redis.stop();
    for (const r of rs.replicas) await eventually(() => /Redis is unreachable: working on local state/.test(r.output()), 'the outage logged');
    for (let i = 0; i < 6; i++) await ask(i);
    for (const r of rs.replicas) {
      assert.deepEqual(await ready(r), { code: 200, body: { status: 'degraded', reason: 'Redis unreachable: working on local state' } });
      assert.equal(await metric(r, 'redis_up'), 0);
      assert.ok((await metric(r, 'redis_errors')) > 0);
      assert.equal(r.output().match(/Redis is unreachable/g)?.length, 1, 'said once');
    }
  });

  test('after Redis returns, the replicas share credentials again: one refresh per expiry', async () => {
    await rs.redis.start();
    for (const r of rs.replicas) await eventually(() => /Redis is back/.test(r.output()), 'the return logged');
    for (const r of rs.replicas) assert.deepEqual(await ready(r), { code: 200, body: { status: 'ready' } });
    for (let expiry = 1; expiry <= 2; expiry++) {
      const before = rs.emu.stats().registerDevice;
      rs.emu.expireAccessTokens();
      for (let i = 0; i < 4; i++) await ask(i);
      assert.equal(rs.emu.stats().registerDevice, before + 1, `one refresh for expiry ${expiry}`);
    }
    assert.equal(rs.emu.stats().guestTokens, 0);
    for (const r of rs.replicas) assert.equal(await metric(r, 'redis_up'), 1);
  });

  test('a replica started while Redis is down serves, degraded, and joins once Redis answers', async () => {
    await rs.redis.stop();
    const late = await rs.spawn();
    assert.deepEqual(await ready(late), { code: 200, body: { status: 'degraded', reason: 'Redis unreachable: working on local state' } });
    assert.match(late.output(), /Redis is unreachable at start/);
    await rs.redis.start();
    await eventually(() => /Redis is back/.test(late.output()), 'the late replica connected');
    assert.deepEqual(await ready(late), { code: 200, body: { status: 'ready' } });
  });
});

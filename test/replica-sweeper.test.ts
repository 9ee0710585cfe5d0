import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from './emulator/index.js';
import { DIALECT } from './helpers.js';
import { eventually, spawnService, startRedis, type RedisProcess, type ServiceProcess } from './processes.js';

// Two replicas journal their upstream chats in one Redis; when one is killed with SIGKILL its lease
// runs out and the survivor's sweeper deletes the chats it left.

describe('two replicas sharing a Redis', () => {
  let emu: Emulator;
  let redis: RedisProcess;
  let token = '';
  const dirs: string[] = [];
  const replicas: ServiceProcess[] = [];

  before(async () => {
    emu = await startEmulator({ dialect: DIALECT, frames: 20 });
    token = emu.addAccount().token;
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-replica-'));
      dirs.push(dataDir);
      replicas.push(
        await spawnService({ STEP_DIALECT: DIALECT, STEP_BASE_URL: emu.url, DATA_DIR: dataDir, REDIS_URL: redis.url, REPLICA_LEASE_MS: '3000' }),
      );
    }
  });
  after(async () => {
    for (const r of replicas) await r.stop();
    await redis.close();
    await emu.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('the chats of a replica killed during three streams are deleted by the other one', async () => {
    const [victim, survivor] = replicas as [ServiceProcess, ServiceProcess];
    const client = victim.client(token);
    const streams = [1, 2, 3].map((i) =>
      client.chat.completions
        .create({ model: 'step', stream: true, messages: [{ role: 'user', content: `#fault:stall replica ${i}` }] })
        .then(async (s) => {
          for await (const _ of s);
        })
        .catch(() => undefined),
    );
    await eventually(() => emu.stats().activeStreams === 3, 'three upstream streams');
    await victim.kill();
    await Promise.all(streams);
    assert.equal(emu.stats().liveChats, 3, 'the killed replica deleted nothing');

    await eventually(() => emu.stats().liveChats === 0, 'the chats deleted by the survivor', 20_000);
    assert.equal(emu.stats().chatsDeleted, 3);
    assert.match(survivor.output(), /deleting upstream chats left by a process that died/);
  });

  test('the survivor keeps its own chats while it runs', async () => {
    const survivor = replicas[1]!;
    const r = await survivor.client(token).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'still here' }] });
    assert.ok(r.choices[0]?.message.content);
    await eventually(() => emu.stats().liveChats === 0, 'its chat deleted after the answer');
    assert.doesNotMatch(survivor.output(), /could not delete upstream chat/);
  });
});

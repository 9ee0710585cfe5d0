import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { answerFor, CAPY_PATHS, startEmulator, YUEWEN_PATHS, type Emulator } from './emulator/index.js';
import { collectStream, DIALECT } from './helpers.js';
import { eventually, spawnService, startRedis, type RedisProcess, type ServiceProcess } from './processes.js';

// An account is one account whichever replica uses it: its concurrency limit and its health are
// the service's, counted and seen through Redis.

const key = 'sk-replica-accounts';
const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });

/** One emulator, one Redis and replicas started with `env` (more may be added by a test). */
function replicaSuite(env: (emu: Emulator) => Record<string, string>) {
  const ctx = { emu: undefined as unknown as Emulator, redis: undefined as unknown as RedisProcess, replicas: [] as ServiceProcess[], env: {} as Record<string, string> };
  const dirs: string[] = [];
  const spawn = async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-replica-'));
    dirs.push(dataDir);
    const r = await spawnService({ STEP_DIALECT: DIALECT, STEP_BASE_URL: ctx.emu.url, DATA_DIR: dataDir, REDIS_URL: ctx.redis.url, API_KEYS: key, ...ctx.env });
    ctx.replicas.push(r);
    return r;
  };
  before(async () => {
    ctx.emu = await startEmulator({ dialect: DIALECT, frames: 4, fragment: false });
    ctx.env = env(ctx.emu);
    ctx.redis = await startRedis();
    await spawn();
    await spawn();
  });
  after(async () => {
    for (const r of ctx.replicas) await r.stop();
    await ctx.redis.close();
    await ctx.emu.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return Object.assign(ctx, { spawn });
}

describe('TOKEN_MAX_CONCURRENCY=2 on one account, two replicas', () => {
  const s = replicaSuite((emu) => ({ STEP_TOKENS: emu.addAccount().token, TOKEN_MAX_CONCURRENCY: '2', REPLICA_LEASE_MS: '2000' }));

  test('8 simultaneous requests spread over both replicas all complete, never more than 2 upstream streams at once', async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => `shared slots ${i} #delay:150`);
    const answers = await Promise.all(
      prompts.map((p, i) =>
        s.replicas[i % 2]!.client(key)
          .chat.completions.create({ ...ask(p), stream: true })
          .then(collectStream),
      ),
    );
    answers.forEach((a, i) => assert.equal(a.content, answerFor(prompts[i]!, 4).join('')));
    // Exactly 2: the requests did overlap (each replica alone would have allowed 2 of its own).
    assert.equal(s.emu.stats().maxActiveStreams, 2);
  });

  test("a replica killed while holding both slots: they come back after the lease and the other replica's request is served", async () => {
    s.emu.reset();
    const doomed = s.replicas[0]!;
    const held = [0, 1].map((i) => doomed.client(key).chat.completions.create({ ...ask(`held ${i} #fault:stall`), stream: true }).then(collectStream).catch(() => undefined));
    await eventually(() => s.emu.stats().activeStreams === 2, 'both slots held by the first replica');
    await doomed.kill();
    await Promise.all(held);
    const answer = await s.replicas[1]!.client(key).chat.completions.create(ask('after the crash'));
    assert.equal(answer.choices[0]!.message.content, answerFor('after the crash', 4).join(''));
  });

  test('while Redis is unreachable the replica counts on its own: 4 simultaneous requests complete, 2 streams at once', async () => {
    s.emu.reset();
    const survivor = s.replicas[1]!;
    await s.redis.stop();
    await eventually(() => /Redis is unreachable: working on local state/.test(survivor.output()), 'the outage logged');
    const prompts = Array.from({ length: 4 }, (_, i) => `local slots ${i} #delay:150`);
    const answers = await Promise.all(prompts.map((p) => survivor.client(key).chat.completions.create({ ...ask(p), stream: true }).then(collectStream)));
    answers.forEach((a, i) => assert.equal(a.content, answerFor(prompts[i]!, 4).join('')));
    assert.equal(s.emu.stats().maxActiveStreams, 2);
    await s.redis.start();
  });
});

/** Access-token requests (logins) this device made. */
function logins(emu: Emulator, deviceId: string): number {
  const paths: string[] = [CAPY_PATHS.refreshToken, YUEWEN_PATHS.registerDevice];
  return emu.requests.filter((r) => paths.includes(r.path) && r.headers['oasis-webid'] === deviceId).length;
}

describe('a pool of three, one account rejected and one answering 503, two replicas', () => {
  let dead = '';
  let flaky = '';
  let good = '';
  const s = replicaSuite((emu) => {
    const rejected = emu.addAccount();
    emu.revokeAccount(rejected.userToken);
    const failing = emu.addAccount();
    emu.faultAccount(failing.deviceId, { status: 503 });
    const working = emu.addAccount();
    [dead, flaky, good] = [rejected.deviceId, failing.deviceId, working.deviceId];
    // A cool-down longer than the test: only a replica that does not know of it would try it again.
    return { STEP_TOKENS: [rejected, failing, working].map((a) => a.token).join(','), ACCOUNT_RECHECK_MS: '3600000', ACCOUNT_BACKOFF_MIN_MS: '600000' };
  });

  test('once the first replica marked one account dead and one cooling, the second tries neither', async () => {
    let i = 0;
    // The first replica spreads its requests: they meet the rejected and the failing account.
    while ((logins(s.emu, dead) === 0 || logins(s.emu, flaky) === 0) && i < 10) {
      const r = await s.replicas[0]!.client(key).chat.completions.create(ask(`first ${i++}`));
      assert.ok(r.choices[0]?.message.content);
    }
    assert.equal(logins(s.emu, dead), 1, 'the first replica tried the rejected account once');
    assert.equal(logins(s.emu, flaky), 1, 'the first replica tried the failing account once');
    for (let j = 0; j < 6; j++) {
      const prompt = `second ${j}`;
      const r = await s.replicas[1]!.client(key).chat.completions.create(ask(prompt));
      assert.equal(r.choices[0]!.message.content, answerFor(prompt, 4).join(''));
      assert.equal(s.emu.messages.find((m) => m.text.endsWith(prompt))!.deviceId, good);
    }
    assert.equal(logins(s.emu, dead), 1, 'no login of the rejected account from the second replica');
    assert.equal(logins(s.emu, flaky), 1, 'no login of the cooling account from the second replica');
  });
});

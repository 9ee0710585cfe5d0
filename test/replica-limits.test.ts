import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startEmulator, type Emulator } from './emulator/index.js';
import { DIALECT } from './helpers.js';
import { spawnService, startRedis, type RedisProcess, type ServiceProcess } from './processes.js';

// Limits are the service's, not each process's: through Redis two replicas count as one.

describe('rate limits shared by two replicas', () => {
  let emu: Emulator;
  let redis: RedisProcess;
  const dirs: string[] = [];
  const replicas: ServiceProcess[] = [];

  before(async () => {
    emu = await startEmulator({ dialect: DIALECT, frames: 3 });
    const { token } = emu.addAccount();
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-replica-'));
      dirs.push(dataDir);
      replicas.push(
        await spawnService({
          STEP_DIALECT: DIALECT,
          STEP_BASE_URL: emu.url,
          DATA_DIR: dataDir,
          REDIS_URL: redis.url,
          STEP_TOKENS: token,
          API_KEYS: 'team:sk-team-key',
          RATE_LIMIT_MAX: '6',
          RATE_LIMIT_WINDOW_MS: '600000',
        }),
      );
    }
  });
  after(async () => {
    for (const r of replicas) await r.stop();
    await redis.close();
    await emu.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('RATE_LIMIT_MAX=6: of 10 requests alternated between the replicas 6 succeed and 4 get 429', async () => {
    const outcomes: (number | 'ok')[] = [];
    for (let i = 0; i < 10; i++) {
      try {
        await replicas[i % 2]!.client('sk-team-key').chat.completions.create({ model: 'step', messages: [{ role: 'user', content: `limit ${i}` }] });
        outcomes.push('ok');
      } catch (err) {
        assert.ok(err instanceof OpenAI.APIError);
        assert.equal(err.code, 'rate_limited');
        outcomes.push(err.status!);
      }
    }
    assert.deepEqual(outcomes, ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 429, 429, 429, 429]);
    assert.equal(emu.stats().streamsStarted, 6, 'the refused ones never reached StepChat');
  });
});

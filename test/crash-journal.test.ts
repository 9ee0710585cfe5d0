import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from './emulator/index.js';
import { DIALECT } from './helpers.js';
import { eventually, spawnService, type ServiceProcess } from './processes.js';

// A process killed with SIGKILL runs no shutdown hook: the chats it had open upstream are only
// found again through the journal it wrote in DATA_DIR before using them.

describe('chats of a process killed mid-stream (no Redis)', () => {
  let emu: Emulator;
  let token = '';
  let dataDir = '';
  let service: ServiceProcess | undefined;
  let env: Record<string, string> = {};

  before(async () => {
    emu = await startEmulator({ dialect: DIALECT, frames: 20 });
    token = emu.addAccount().token;
    dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-journal-'));
    env = { STEP_DIALECT: DIALECT, STEP_BASE_URL: emu.url, DATA_DIR: dataDir };
  });
  after(async () => {
    await service?.stop();
    await emu.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('are deleted when the service starts again with the same DATA_DIR', async () => {
    service = await spawnService(env);
    const client = service.client(token);
    const streams = [1, 2, 3].map((i) =>
      client.chat.completions
        .create({ model: 'step', stream: true, messages: [{ role: 'user', content: `#fault:stall crash ${i}` }] })
        .then(async (s) => {
          for await (const _ of s);
        })
        .catch(() => undefined),
    );
    await eventually(() => emu.stats().activeStreams === 3, 'three upstream streams');
    await service.kill();
    await Promise.all(streams);
    assert.equal(emu.stats().liveChats, 3, 'the killed process deleted nothing');

    service = await spawnService(env);
    await eventually(() => emu.stats().liveChats === 0, 'the chats of the killed process deleted');
    assert.equal(emu.stats().chatsDeleted, 3);
    assert.match(service.output(), /deleting upstream chats left by a process that died/);
    assert.ok(!service.output().includes(token.slice(token.indexOf('@') + 1)), 'no token in the log');
  });

  test('a clean shutdown leaves no journal behind', async () => {
    const r = await service!.client(token).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'hello' }] });
    assert.ok(r.choices[0]?.message.content);
    await eventually(() => emu.stats().liveChats === 0, 'the chat deleted');
    await service!.stop();
    service = undefined;
    assert.deepEqual(readdirSync(join(dataDir, 'chat-journal')), []);
  });
});

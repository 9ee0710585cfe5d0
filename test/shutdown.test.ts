import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { answerFor, startEmulator } from './emulator/index.js';
import { DIALECT, parseSse, waitFor } from './helpers.js';

const ask = (content: string) => ({ model: 'step', stream: true, messages: [{ role: 'user' as const, content }] });

/** The joined content of a parsed SSE body and whether it ended in an error chunk. */
function readStream(data: string[]): { content: string; error: boolean } {
  let content = '';
  let error = false;
  for (const d of data.slice(0, -1)) {
    const chunk = JSON.parse(d) as { error?: unknown; choices?: { delta: { content?: string } }[] };
    if (chunk.error) error = true;
    else content += chunk.choices?.[0]?.delta.content ?? '';
  }
  return { content, error };
}

test('SIGTERM during 20 streams: readiness 503 at once, new requests refused, streams finish or end with an error chunk, no chat left, exit 0', async () => {
  const emu = await startEmulator({ dialect: DIALECT, frames: 6, fragment: false });
  const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-shutdown-'));
  const tokens = [emu.addAccount(), emu.addAccount()].map((a) => a.token).join(',');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      STEP_DIALECT: DIALECT,
      STEP_BASE_URL: emu.url,
      STEP_TOKENS: tokens,
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      CONVERSATION_MODE: 'off',
      // A loaded 2-core machine lags the event loop past the 1 s default and would shed the test's
      // requests; load shedding has its own suite (ops.test.ts).
      PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_MS: '1500',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(() => /Server listening at http:\/\/127\.0\.0\.1:\d+/.test(out), 'the service listening', 30_000);
    const base = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const post = (body: unknown) => fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    // Ten answers that end on their own soon, ten that stall and can only be cut.
    const prompts = Array.from({ length: 20 }, (_, i) => (i < 10 ? `drains ${i} #delay:50` : `stalls ${i} #fault:stall`));
    const streams = prompts.map((p) => post(ask(p)).then(async (r) => ({ status: r.status, body: await r.text() })));
    await waitFor(() => emu.stats().activeStreams === 20, '20 streams open', 20_000);

    child.kill('SIGTERM');
    let ready = 0;
    for (let i = 0; i < 200 && ready !== 503; i++) {
      ready = (await fetch(`${base}/readyz`).catch(() => undefined))?.status ?? 0;
      if (ready !== 503) await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(ready, 503, '/readyz answers 503 during the drain');
    const refused = await post(ask('too late'));
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'shutting_down');

    const results = await Promise.all(streams);
    results.forEach(({ status, body }, i) => {
      assert.equal(status, 200);
      const { data } = parseSse(body);
      assert.equal(data.at(-1), '[DONE]', `stream ${i} ends with [DONE]`);
      const { content, error } = readStream(data);
      if (i >= 10) assert.ok(error, `stalled stream ${i} ends with an error chunk`);
      else assert.ok(error || content === answerFor(prompts[i]!, 6).join(''), `stream ${i} finished whole or ended with an error chunk`);
    });
    assert.equal(await exited, 0);
    assert.equal(emu.stats().liveChats, 0, 'every upstream chat was deleted');
    assert.ok(!out.includes(tokens.split(',')[0]!.split('@')[1]!), 'no pool token in the log');
  } finally {
    child.kill('SIGKILL');
    await emu.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// @dialect capy
import assert from 'node:assert/strict';
import { execFile as execFileCb, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { answerFor, startEmulator, type Emulator } from './emulator/index.js';
import { DIALECT, waitFor } from './helpers.js';

// The original's native deployment: pm2 with the ecosystem file, as the README tells a user to run
// it. pm2 is a global tool, not a dependency: it is installed from npm into a cache directory
// outside the project, and its daemon lives in a temporary PM2_HOME so it never meets a real one.

const execFile = promisify(execFileCb);
const ROOT = resolve(import.meta.dirname, '..');
const PM2_PREFIX = join(tmpdir(), 'step-gateway-pm2-v6');
const PM2 = join(PM2_PREFIX, 'node_modules', 'pm2', 'bin', 'pm2');

function installPm2(): void {
  if (existsSync(PM2)) return;
  mkdirSync(PM2_PREFIX, { recursive: true });
  const npm = spawnSync('npm', ['install', '--prefix', PM2_PREFIX, '--no-audit', '--no-fund', '--no-save', 'pm2@6'], { encoding: 'utf8' });
  assert.equal(npm.status, 0, `npm install pm2 failed: ${npm.stderr}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** One completion on a fresh connection (a reload hands new connections to the new worker). */
function complete(port: number, token: string, content: string): Promise<{ status: number; text: string }> {
  const body = JSON.stringify({ model: 'step', stream: false, messages: [{ role: 'user', content }] });
  return new Promise((res, rej) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent: false,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) } },
      (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (d: string) => (text += d));
        r.on('end', () => res({ status: r.statusCode ?? 0, text }));
        r.on('error', rej);
      },
    );
    req.on('error', rej);
    // A hung request must fail the test with a reason, not time the whole test out.
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer in 30 s to ${content}`)));
    req.end(body);
  });
}

describe('pm2 runs the service from ecosystem.config.cjs', () => {
  let emu: Emulator;
  let token = '';
  let port = 0;
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  const pm2 = (...args: string[]) => execFile(process.execPath, [PM2, ...args], { cwd: ROOT, env, timeout: 60_000 });

  before(async () => {
    installPm2();
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed: ${build.stdout}${build.stderr}`);
    emu = await startEmulator({ dialect: DIALECT, frames: 20, frameDelayMs: 5 });
    token = emu.addAccount().token;
    port = await freePort();
    home = mkdtempSync(join(tmpdir(), 'step-gateway-pm2-home-'));
    env = {
      ...process.env,
      PM2_HOME: home,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: join(home, 'data'),
      PM2_OUT_FILE: join(home, 'out.log'),
      PM2_ERROR_FILE: join(home, 'err.log'),
      STEP_DIALECT: DIALECT,
      STEP_BASE_URL: emu.url,
      CONVERSATION_MODE: 'off',
      // A loaded 2-core machine lags the event loop past the 1 s default and would shed the test's
      // requests; load shedding has its own suite (ops.test.ts).
      PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
      LOG_LEVEL: 'info',
    };
  }, { timeout: 180_000 });

  after(async () => {
    if (home) {
      await pm2('kill').catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    }
    await emu?.close();
  });

  test('start, answer, reload with no failed request, logs, stop', { timeout: 150_000 }, async (t) => {
    let passed = false;
    await pm2('start', 'ecosystem.config.cjs');
    t.after(() => {
      // On failure, what pm2 and the service said is the first thing to read.
      if (passed) return;
      for (const f of ['out.log', 'err.log']) {
        if (existsSync(join(home, f))) console.error(`--- pm2 ${f} ---\n${readFileSync(join(home, f), 'utf8').slice(-4000)}`);
      }
    });
    // Ready when it answers: pm2 reports "online" before the port is bound.
    let first: { status: number; text: string } | undefined;
    for (let i = 0; i < 100 && !first; i++) {
      first = await complete(port, token, 'pm2 你好').catch(() => undefined);
      if (!first) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(first, 'the service answered under pm2');
    assert.equal(first.status, 200, first.text);
    assert.equal(JSON.parse(first.text).choices[0].message.content, answerFor('pm2 你好').join(''));

    const { stdout: before } = await pm2('jlist');
    const [appBefore] = JSON.parse(before) as { pid: number; pm2_env: { status: string } }[];
    assert.equal(appBefore?.pm2_env.status, 'online');

    // Completions keep arriving, several in flight at any moment, while pm2 swaps the worker.
    let reloading = true;
    const results: { status: number; text: string; prompt: string }[] = [];
    const errors: unknown[] = [];
    const client = async (n: number) => {
      for (let i = 0; (reloading && i < 200) || i < 2; i++) {
        const prompt = `reload ${n}-${i}`;
        try {
          results.push({ ...(await complete(port, token, prompt)), prompt });
        } catch (err) {
          errors.push(err);
        }
      }
    };
    const clients = Array.from({ length: 4 }, (_, n) => client(n));
    await new Promise((r) => setTimeout(r, 200));
    await pm2('reload', 'step-gateway');
    const { stdout: afterReload } = await pm2('jlist');
    const [appAfter] = JSON.parse(afterReload) as { pid: number; pm2_env: { status: string } }[];
    // Keep sending for a moment after the reload returned, so requests land on the new worker too.
    await new Promise((r) => setTimeout(r, 500));
    reloading = false;
    await Promise.all(clients);

    assert.notEqual(appAfter?.pid, appBefore?.pid, 'reload replaced the worker process');
    assert.equal(appAfter?.pm2_env.status, 'online');
    assert.deepEqual(errors, [], 'no connection failed during the reload');
    assert.ok(results.length >= 8, `completions were in flight during the reload (${results.length})`);
    for (const r of results) {
      assert.equal(r.status, 200, `${r.prompt}: ${r.text}`);
      assert.equal(JSON.parse(r.text).choices[0].message.content, answerFor(r.prompt).join(''), r.prompt);
    }
    await waitFor(() => emu.stats().liveChats === 0, 'every upstream chat deleted, including the old worker\'s');

    // `pm2 logs` reads these files; the service's JSON lines land there and hold no token.
    const out = readFileSync(join(home, 'out.log'), 'utf8');
    assert.match(out, /"msg":/);
    assert.ok(!out.includes(token.split('@')[1]!), 'no token in the pm2 log');

    await pm2('stop', 'step-gateway');
    const { stdout: stopped } = await pm2('jlist');
    assert.equal((JSON.parse(stopped) as { pm2_env: { status: string } }[])[0]?.pm2_env.status, 'stopped');
    await assert.rejects(complete(port, token, 'after stop'), 'nothing listens after pm2 stop');
    passed = true;
  });
});

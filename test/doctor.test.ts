import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startEmulator, type Emulator } from './emulator/index.js';
import { DIALECT } from './helpers.js';

const run = promisify(execFile);

/** `npm run doctor` as a user runs it: its own process, the token on the command line. */
async function doctor(env: Record<string, string>, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/ops/doctor-cli.ts', ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** The table row of one call: its verdict and status columns. */
function row(out: string, call: string): string[] {
  const line = out.split('\n').find((l) => l.startsWith(`${call} `));
  assert.ok(line, `a row for ${call} in:\n${out}`);
  return line.split(/\s{2,}/);
}

const CALLS = DIALECT === 'capy'
  ? { login: 'RefreshToken', create: 'CreateChatSession', send: 'ChatStream', remove: 'DeleteChatSession', upload: 'UploadImage' }
  : { login: 'RegisterDevice', create: 'CreateChat', send: 'SendMessageStream', remove: 'DelChat', upload: 'Upload + GetFileStatus' };

describe(`npm run doctor (${DIALECT})`, () => {
  let emu: Emulator;
  let dataDir: string;
  let env: Record<string, string>;
  before(async () => {
    emu = await startEmulator({ dialect: DIALECT, frames: 5, uploadPolls: 1 });
    dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-doctor-'));
    env = { STEP_DIALECT: DIALECT, STEP_BASE_URL: emu.url, DATA_DIR: dataDir, STEP_TOKENS: '', LOG_LEVEL: 'silent', ATTACHMENT_POLL_INITIAL_MS: '10' };
  });
  after(async () => {
    await emu.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('passes against a working upstream, every call OK, and prints no secret', async () => {
    const account = emu.addAccount();
    const { code, out } = await doctor(env, ['--token', account.browserToken]);
    assert.equal(code, 0, out);
    for (const call of Object.values(CALLS)) assert.equal(row(out, call)[1], 'OK', out);
    assert.match(out, /All upstream calls work\./);
    assert.match(row(out, CALLS.send)[4]!, /text×\d+/);
    for (const secret of [account.userToken, account.browserToken.split('@')[1]!, emu.currentRefreshToken(account.deviceId)!]) assert.ok(!out.includes(secret), 'no token in the output');
    assert.doesNotMatch(out, /eyJ[\w-]{10,}|Oasis-Token=/);
    assert.equal(emu.stats().liveChats, 0, 'the chat it made was deleted');
  });

  test('run twice with the same DATA_DIR, the rotated refresh token it stored is used', async () => {
    const account = emu.addAccount();
    assert.equal((await doctor(env, ['--token', account.token])).code, 0);
    const { code, out } = await doctor(env, ['--token', account.token]);
    assert.equal(code, 0, out);
  });

  test('names the call that broke when an endpoint was renamed upstream, exit code 1', async () => {
    const account = emu.addAccount();
    emu.configure({ removedCalls: [CALLS.create] });
    try {
      const { code, out } = await doctor(env, ['--token', account.token]);
      assert.equal(code, 1, out);
      const broken = row(out, CALLS.create);
      assert.equal(broken[1], 'FAIL');
      assert.equal(broken[2], '404');
      assert.match(broken[4]!, /renamed/);
      assert.equal(row(out, CALLS.login)[1], 'OK');
      assert.equal(row(out, CALLS.send)[1], 'SKIP');
      assert.equal(row(out, CALLS.upload)[1], 'OK', 'calls that do not need the chat still run');
      assert.match(out, new RegExp(`FAILED: ${CALLS.create}`));
    } finally {
      emu.configure({ removedCalls: [] });
    }
  });

  test('a rejected token fails the refresh with a hint to copy a fresh one, and skips the rest', async () => {
    const account = emu.addAccount();
    emu.revokeAccount(account.userToken);
    const { code, out } = await doctor(env, ['--token', account.token]);
    assert.equal(code, 1, out);
    assert.equal(row(out, CALLS.login)[1], 'FAIL');
    assert.match(row(out, CALLS.login)[4]!, /copy a fresh Oasis-Token/);
    assert.equal(row(out, CALLS.create)[1], 'SKIP');
    assert.ok(!out.includes(account.userToken));
  });

  test('names the unknown event kinds a drifting stream carries, and still passes', async () => {
    const account = emu.addAccount();
    emu.configure({ drift: true });
    try {
      const { code, out } = await doctor(env, ['--token', account.token]);
      assert.equal(code, 0, out);
      // The emulator's random noise may add its own `unknownEvent` to the list.
      const unknown = /unknown: (.*)$/.exec(row(out, CALLS.send)[4]!)?.[1]?.split(', ') ?? [];
      assert.ok(unknown.includes('futureEvent') && unknown.includes('shinyNewEvent'), `named: ${unknown.join(', ')}`);
    } finally {
      emu.configure({ drift: false });
    }
  });

  test('a failing stream is named while the chat is still deleted', async () => {
    const account = emu.addAccount();
    emu.failNext('SendMessageStream', 500);
    const { code, out } = await doctor(env, ['--token', account.token]);
    assert.equal(code, 1, out);
    assert.deepEqual(row(out, CALLS.send).slice(1, 3), ['FAIL', '500']);
    assert.equal(row(out, CALLS.remove)[1], 'OK');
  });
});

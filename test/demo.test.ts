import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { DIALECT } from './helpers.js';

const exec = promisify(execFile);

/** The shell commands starting with `curl` in a text, backslash continuations joined. */
function curlCommands(text: string): string[] {
  const commands: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const at = lines[i]!.indexOf('curl ');
    if (at < 0 || lines[i]!.trimStart().startsWith('#')) continue;
    let command = lines[i]!.slice(at);
    while (command.endsWith('\\') && i + 1 < lines.length) command = `${command.slice(0, -1)} ${lines[++i]!.trim()}`;
    // A multi-line JSON body inside single quotes continues without backslashes.
    while ((command.match(/'/g)?.length ?? 0) % 2 === 1 && i + 1 < lines.length) command = `${command}\n${lines[++i]!}`;
    commands.push(command);
  }
  return commands;
}

/**
 * The curl commands of the README's ```sh blocks that talk to the service or the emulator
 * (localhost:8000 / :8001); others (the compose scale profile's Nginx on :8080) need Docker.
 */
function readmeCurls(): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  return [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => curlCommands(m[1]!))
    .filter((c) => /localhost:800[01]\b/.test(c));
}

// `npm run demo` as a user starts it (its own process, its entry point), on free ports; the
// README's examples say localhost:8000 and :8001, which is all that is rewritten.
describe(`npm run demo (${DIALECT === 'capy' ? 'default dialect' : DIALECT})`, () => {
  let demo: ChildProcess;
  let out = '';
  let gateway = '';
  let emulatorPort = '';
  let token = '';

  before(async () => {
    // PRESSURE_MAX_EVENT_LOOP_DELAY_MS 0: a loaded machine would shed the test's requests (ops.test.ts tests shedding).
    const env: Record<string, string | undefined> = { ...process.env, PORT: '0', EMULATOR_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' };
    // The capy run leaves STEP_DIALECT unset: the demo must work in the default dialect.
    delete env.STEP_DIALECT;
    delete env.STEP_BASE_URL;
    if (DIALECT === 'yuewen') env.STEP_DIALECT = 'yuewen';
    demo = spawn(process.execPath, ['--import', 'tsx', 'test/demo.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo did not start:\n${out}`)), 30_000);
      const onData = (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (/Ctrl-C stops both/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      demo.stdout!.on('data', onData);
      demo.stderr!.on('data', onData);
      demo.once('exit', (code) => reject(new Error(`the demo exited with ${code}:\n${out}`)));
    });
    gateway = /gateway: (http:\/\/localhost:\d+)/.exec(out)![1]!;
    emulatorPort = /StepChat emulator \(\w+ dialect\): http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]!;
    token = /export STEP_TOKEN='([^']+)'/.exec(out)![1]!;
  });
  after(() => {
    demo?.kill('SIGTERM');
  });

  /** Runs one command in a shell with STEP_TOKEN set; returns the status curl saw and the body. */
  async function curl(command: string): Promise<{ status: number; body: string }> {
    const local = command.replaceAll('localhost:8000', gateway.replace('http://', '')).replaceAll('localhost:8001', `localhost:${emulatorPort}`);
    const { stdout } = await exec('sh', ['-c', `${local} -sS -w '\\n%{http_code}'`], { env: { ...process.env, STEP_TOKEN: token }, timeout: 30_000 });
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  }

  test('it speaks the dialect the service is configured with and says its answers are synthetic', () => {
    assert.match(out, new RegExp(`StepChat emulator \\(${DIALECT} dialect\\)`));
    assert.match(out, /Every answer is synthetic/);
  });

  test("every curl example in the README answers 200 against it, as written", async () => {
    const commands = readmeCurls();
    assert.ok(commands.length >= 5, `the README's curl examples: ${commands.length}`);
    for (const command of commands) {
      const { status, body } = await curl(command);
      assert.equal(status, 200, `${command}\n→ ${body}`);
      if (command.includes('"stream":true')) assert.match(body, /data: \[DONE\]\n\n$/);
      else if (command.includes('/v1/chat/completions')) assert.equal(JSON.parse(body).object, 'chat.completion');
      if (command.includes('/token/check')) assert.deepEqual(JSON.parse(body), { live: true });
    }
  });

  test('every command it prints for an endpoint answers 200', async () => {
    const commands = curlCommands(out);
    assert.ok(commands.length >= 7, `printed commands: ${commands.length}`);
    for (const command of commands) {
      const { status, body } = await curl(command);
      assert.equal(status, 200, `${command}\n→ ${body}`);
    }
  });

  test('the self-check it prints passes against it', async () => {
    const line = out.split('\n').find((l) => l.includes('npm run doctor'))!;
    const command = line.slice(line.indexOf('STEP_DIALECT=')).replace('npm run doctor --', `${process.execPath} --import tsx src/ops/doctor-cli.ts`);
    const { stdout } = await exec('sh', ['-c', command], { timeout: 60_000 });
    assert.match(stdout, /All upstream calls work\./);
  });
});

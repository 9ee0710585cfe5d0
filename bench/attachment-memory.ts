import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

// Peak RSS of the service while a 100 MiB attachment goes through it by URL, once with a
// Content-Length (streamed origin → upstream) and once without (buffered to a temporary file).
// The emulator and the service run as separate processes; the service's RSS is read from
// /proc/<pid>/status (VmRSS sampled every 5 ms, and VmHWM after resetting it).
//   npx tsx bench/attachment-memory.ts [bytes]      (npm run bench:attachments)
// ATTACHMENT_GC_EVERY_BYTES=0 in the environment runs the service without its GC hint, for comparison.

const BYTES = Number(process.argv[2] ?? 100 * 1024 * 1024);
const LIMIT_MIB = 30;
const MiB = 1024 * 1024;
const children: ChildProcess[] = [];

function start(args: string[], env: Record<string, string>, nodeFlags: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} for ${pid}`);
  return Number(match[1]) * 1024;
}

/** Resets the kernel's peak-RSS mark (VmHWM); false where that is not permitted. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function complete(service: string, token: string, url: string): Promise<void> {
  const res = await fetch(`${service}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarize this file' }, { type: 'file', file_url: { url } }] }] }),
  });
  const body = (await res.json()) as { error?: { message: string } };
  if (res.status !== 200) throw new Error(`completion failed with ${res.status}: ${body.error?.message}`);
}

async function measure(pid: number, run: () => Promise<void>) {
  await sleep(300); // let the previous request's garbage settle
  const baseline = status(pid, 'VmRSS');
  const hwm = resetPeak(pid);
  let sampled = baseline;
  let running = true;
  const sampler = (async () => {
    while (running) {
      sampled = Math.max(sampled, status(pid, 'VmRSS'));
      await sleep(5);
    }
  })();
  const t0 = Date.now();
  try {
    await run();
  } finally {
    running = false;
    await sampler;
  }
  const peak = Math.max(sampled, hwm ? status(pid, 'VmHWM') : 0);
  return { baseline, peak, growth: peak - baseline, ms: Date.now() - t0 };
}

/** A fresh service process wired to the emulator, up and warmed up on both paths. */
async function startService(emu: string, token: string): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const child = start(['src/server.ts'], {
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    STEP_DIALECT: 'yuewen',
    STEP_BASE_URL: emu,
    ATTACHMENT_ALLOW_HOSTS: '127.0.0.1',
    ATTACHMENT_POLL_INITIAL_MS: '50',
    ...(process.env.ATTACHMENT_GC_EVERY_BYTES ? { ATTACHMENT_GC_EVERY_BYTES: process.env.ATTACHMENT_GC_EVERY_BYTES } : {}),
  }, ['--expose-gc']); // as `npm start` and the Docker image run it
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(`${base}/`).then((r) => r.ok, () => false)) break;
    if (i > 200) throw new Error('the service did not start');
    await sleep(50);
  }
  // Both paths once with 1 MiB, so module loading and first-use buffers are in the baseline.
  await complete(base, token, `${emu}/files/big.pdf?bytes=${MiB}`);
  await complete(base, token, `${emu}/files/big.pdf?bytes=${MiB}&chunked`);
  return { child, base };
}

async function main(): Promise<void> {
  // yuewen: the dialect whose upload streams the file (PUT /api/storage with its size).
  const emulator = start(['test/emulator/cli.ts'], { EMULATOR_PORT: '0', EMULATOR_DIALECT: 'yuewen' });
  const line = await createInterface({ input: emulator.stdout! })[Symbol.asyncIterator]().next();
  const { url: emu, token } = JSON.parse(String(line.value)) as { url: string; token: string };

  console.log(`${(BYTES / MiB).toFixed(0)} MiB file by URL, one fresh service process per case; limit: growth < ${LIMIT_MIB} MiB`);
  let ok = true;
  for (const [label, query] of [
    ['with Content-Length (streamed)', ''],
    ['without Content-Length (temp file)', '&chunked'],
  ] as const) {
    const { child, base } = await startService(emu, token);
    const r = await measure(child.pid!, () => complete(base, token, `${emu}/files/big.pdf?bytes=${BYTES}${query}`));
    child.kill('SIGTERM');
    const uploads = (await (await fetch(`${emu}/__emulator/uploads`)).json()) as { size: number }[];
    if (uploads.at(-1)?.size !== BYTES) throw new Error(`the upstream received ${uploads.at(-1)?.size} bytes, not ${BYTES}`);
    const growth = r.growth / MiB;
    ok &&= growth < LIMIT_MIB;
    console.log(
      `${label.padEnd(36)} baseline ${(r.baseline / MiB).toFixed(1)} MiB  peak ${(r.peak / MiB).toFixed(1)} MiB  ` +
        `growth ${growth.toFixed(1)} MiB  ${growth < LIMIT_MIB ? 'PASS' : 'FAIL'} (< ${LIMIT_MIB} MiB)  ${r.ms} ms`,
    );
  }
  process.exitCode = ok ? 0 : 1;
}

try {
  await main();
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
}

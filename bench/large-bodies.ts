import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { build, rssMb, startEmulatorProc, startServiceProc, stop } from './lib/procs.js';

// Eight concurrent ~60 MB chat completions, each carrying one image as a data URL, against the
// built service and the emulator in their own processes. Meanwhile /ping is polled every 20 ms;
// printed: its latency p50/p99/max, the service's peak RSS (VmRSS sampled every 10 ms, and VmHWM
// after resetting it), how many requests got 503 with Retry-After, and whether the service still
// answers afterwards.
//   npm run bench:bodies [-- <count> <MiB of body> <budget MiB>]
// BENCH_SERVICE_NODE_ARGS='--cpu-prof --cpu-prof-dir=bench/out' profiles the service.

const COUNT = Number(process.argv[2] ?? 8);
const BODY_MIB = Number(process.argv[3] ?? 60);
const BUDGET_MIB = Number(process.argv[4] ?? 256);
const MiB = 1024 * 1024;
const PING_EVERY_MS = 20;
const PINGER = `
const { parentPort, workerData } = require('node:worker_threads');
const { setTimeout: sleep } = require('node:timers/promises');
let running = true;
parentPort.once('message', () => { running = false; });
(async () => {
  const pings = [], slow = [];
  let failures = 0;
  while (running) {
    const t0 = performance.now();
    try {
      const res = await fetch(workerData.url);
      await res.arrayBuffer();
      if (!res.ok) failures++;
    } catch {
      failures++;
    }
    const ms = performance.now() - t0;
    pings.push(ms);
    // Monotonic µs, the clock of a --cpu-prof profile's timestamps: to find what held the loop.
    const now = Number(process.hrtime.bigint() / 1000n);
    if (ms > 100) slow.push(Math.round(now - ms * 1000) + '-' + now);
    await sleep(workerData.everyMs);
  }
  parentPort.postMessage({ pings, failures, slow });
})();`;

/** A JSON chat completion body of about `bodyBytes`: a PNG (signature + random bytes) as a base64 data URL. */
function body(bodyBytes: number): string {
  const raw = Math.floor((bodyBytes * 3) / 4);
  const png = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), randomBytes(raw - 16)]);
  return JSON.stringify({
    model: 'step',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'What is in this picture?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } }] }],
  });
}

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  build();
  const emu = await startEmulatorProc('yuewen');
  const svc = await startServiceProc({
    upstream: emu.url,
    dialect: 'yuewen',
    name: 'large-bodies',
    env: { LOG_LEVEL: 'warn', BODY_BUDGET_BYTES: String(BUDGET_MIB * MiB), ATTACHMENT_POLL_INITIAL_MS: '50' },
  });
  const payload = body(BODY_MIB * MiB);
  const send = (text: string) =>
    fetch(`${svc.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${emu.token}` },
      body: text,
    });
  // Warm-up: one small image, so module loading and the login are out of the measurement.
  const warm = await send(body(64 * 1024));
  if (warm.status !== 200) throw new Error(`warm-up failed with ${warm.status}: ${await warm.text()}`);
  await warm.arrayBuffer();
  await sleep(300);

  const baseline = status(svc.pid, 'VmRSS');
  const hwm = resetPeak(svc.pid);
  let peak = baseline;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, rssMb(svc.pid));
      await sleep(10);
    }
  })();
  // /ping is polled from a worker thread: the bench's own thread is busy sending 480 MB and
  // would add its own stalls to the latencies.
  const pinger = new Worker(PINGER, { eval: true, workerData: { url: `${svc.url}/ping`, everyMs: PING_EVERY_MS } });
  const pinged = new Promise<{ pings: number[]; failures: number; slow: string[] }>((resolve) => pinger.once('message', resolve));
  const t0 = Date.now();
  const results = await Promise.all(
    Array.from({ length: COUNT }, async () => {
      try {
        const res = await send(payload);
        const text = await res.text();
        return { status: res.status, retryAfter: res.headers.get('retry-after'), code: res.status === 200 ? '' : (JSON.parse(text) as { error?: { code?: string } }).error?.code };
      } catch (err) {
        return { status: 0, retryAfter: null, code: (err as Error).message };
      }
    }),
  );
  const elapsed = Date.now() - t0;
  await sleep(200);
  running = false;
  pinger.postMessage('stop');
  const { pings, failures: pingFailures, slow } = await pinged;
  await sampler;
  if (hwm) peak = Math.max(peak, status(svc.pid, 'VmHWM'));

  const after = await fetch(`${svc.url}/ping`).then((r) => r.status, () => 0);
  const uploads = (await (await fetch(`${emu.url}/__emulator/uploads`)).json()) as { size: number }[];
  const sorted = [...pings].sort((a, b) => a - b);
  const ok = results.filter((r) => r.status === 200).length;
  const refused = results.filter((r) => r.status === 503 && Number(r.retryAfter) > 0).length;
  const other = results.filter((r) => r.status !== 200 && !(r.status === 503 && Number(r.retryAfter) > 0));
  const bytes = Buffer.byteLength(payload);

  console.log(`${COUNT} concurrent bodies of ${(bytes / MiB).toFixed(1)} MiB (a data-URL image each), BODY_BUDGET_BYTES ${BUDGET_MIB} MiB`);
  console.log(`answers     200: ${ok}   503 with Retry-After: ${refused}   other: ${other.length}${other.length ? ` (${other.map((r) => `${r.status} ${r.code}`).join(', ')})` : ''}   in ${elapsed} ms`);
  console.log(`uploads     ${uploads.length - 1} received upstream (plus the warm-up)`);
  console.log(`/ping       ${pings.length} polls every ${PING_EVERY_MS} ms: p50 ${percentile(sorted, 50).toFixed(1)} ms  p99 ${percentile(sorted, 99).toFixed(1)} ms  max ${(sorted.at(-1) ?? NaN).toFixed(1)} ms  failures ${pingFailures}`);
  if (slow.length) console.log(`            over 100 ms (monotonic µs, as in a CPU profile): ${slow.join(' ')}`);
  console.log(`RSS         baseline ${baseline.toFixed(0)} MiB  peak ${peak.toFixed(0)} MiB  growth ${(peak - baseline).toFixed(0)} MiB (budget ${BUDGET_MIB} MiB)`);
  console.log(`afterwards  GET /ping ${after}${after === 200 ? ' (the service survived)' : ' (the service is gone)'}`);
  await stop(svc.child);
  await stop(emu.child);
  process.exitCode = after === 200 && other.length === 0 ? 0 : 1;
}

await main();

import { createInterface } from 'node:readline';
import type { ClientResult, ClientSpec } from '../client.js';
import { cpuMs, ROOT, rssSampler, systemCpuMs, track } from './procs.js';
import { round } from './driver.js';

// One measured scenario: a client process drives load while this process reads the service's and
// the emulator's CPU time from /proc at the moments the client opens and closes its window.

/** Emulator counters as GET /__emulator/stats returns them. */
export interface EmulatorStats {
  chatsCreated: number;
  chatsDeleted: number;
  liveChats: number;
  activeStreams: number;
  streamsStarted: number;
  streamsCompleted: number;
  streamsAborted: number;
}

/** Calls the emulator's control API. */
export async function control<T = unknown>(emulatorUrl: string, method: 'GET' | 'POST', what: string, body?: object): Promise<T> {
  const res = await fetch(`${emulatorUrl}/__emulator/${what}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`emulator ${method} ${what}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A fresh emulator account (`deviceId@token`): capy rotates refresh tokens, so no two users share one. */
export async function newAccount(emulatorUrl: string): Promise<string> {
  return (await control<{ token: string }>(emulatorUrl, 'POST', 'accounts', {})).token;
}

/** Waits (at most `ms`) until every upstream chat was deleted; returns the final counters. */
export async function settleChats(emulatorUrl: string, ms = 30_000): Promise<EmulatorStats> {
  const until = Date.now() + ms;
  for (;;) {
    const stats = await control<EmulatorStats>(emulatorUrl, 'GET', 'stats');
    if ((stats.liveChats === 0 && stats.activeStreams === 0) || Date.now() > until) return stats;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Which server a scenario measured: the service, the bare relay (bench/relay.ts), or none (baseline client). */
export type Role = 'service' | 'relay' | 'baseline';

export interface ScenarioResult extends Omit<ClientResult, 'event'> {
  name: string;
  target: ClientSpec['target'];
  role: Role;
  /** Interleaved pair (service next to relay) this run belongs to, from 1. */
  pair?: number;
  stream: boolean;
  connections: number;
  /** Server CPU (service or relay) over the window per completion, from /proc/<pid>/stat (null for the baseline). */
  serviceCpuMsPerCompletion: number | null;
  /** Share of one core each process used over the window. */
  serviceCpuPct: number | null;
  emulatorCpuPct: number;
  clientCpuPct: number;
  /** CPU used by everything else on the machine (other processes, kernel), and stolen by the hypervisor, in % of one core. */
  otherCpuPct: number;
  stealPct: number;
  /** The window on the monotonic clock (µs), to cut a CPU profile to it, and in epoch ms. */
  windowUs: [number, number];
  windowEpochMs: [number, number];
  /** Peak service RSS over the window (null for the baseline). */
  peakRssMb: number | null;
  /** Chats still alive upstream after the scenario settled. */
  leakedChats: number;
}

/**
 * Waits (at most `maxMs`) until the rest of the machine is quiet: less than `pct` % of one core
 * used over a second by anything but `pids`. On a shared machine this keeps other people's jobs
 * out of the figures as far as possible; returns the last reading.
 */
export async function waitForQuiet(pids: number[], maxMs: number, pct = 20): Promise<number> {
  const until = Date.now() + maxMs;
  for (;;) {
    const own = (): number => pids.reduce((a, p) => a + cpuMs(p), 0);
    const [s0, o0, t0] = [systemCpuMs().busy, own(), performance.now()];
    await new Promise((r) => setTimeout(r, 1000));
    const other = ((systemCpuMs().busy - s0 - (own() - o0)) / (performance.now() - t0)) * 100;
    if (other < pct || Date.now() > until) return round(other, 0);
  }
}

/** Runs one client process and measures around its window. */
export async function runScenario(
  name: string,
  spec: ClientSpec,
  pids: { service?: number; emulator: number },
  emulatorUrl: string,
  opts: { role?: Role; pair?: number; metricsUrl?: string } = {},
): Promise<ScenarioResult> {
  const quietMs = Number(process.env.BENCH_QUIET_WAIT_MS ?? 20_000);
  if (quietMs > 0) await waitForQuiet([pids.emulator, ...(pids.service ? [pids.service] : [])], quietMs);
  const child = track(process.execPath, ['--import', 'tsx', 'bench/client.ts'], {
    cwd: ROOT,
    env: { ...process.env, BENCH_SPEC: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rss = spec.target === 'gateway' && pids.service ? rssSampler(pids.service) : undefined;
  const cpu = (pid?: number): number => (pid ? cpuMs(pid) : 0);
  const mark = () => ({ svc: cpu(pids.service), emu: cpu(pids.emulator), sys: systemCpuMs(), at: performance.now(), us: Number(process.hrtime.bigint() / 1000n), epoch: Date.now() });
  let start = mark();
  let end = start;
  let result: ClientResult | undefined;
  // Metrics on: GET /metrics every 5 s during the run, as a Prometheus would scrape it.
  const scraper = opts.metricsUrl
    ? setInterval(() => void fetch(opts.metricsUrl!).then((r) => r.text()).catch(() => undefined), 5000)
    : undefined;
  for await (const line of createInterface({ input: child.stdout! })) {
    const msg = JSON.parse(line) as { event: string };
    if (msg.event === 'start') {
      start = mark();
      rss?.reset();
    } else if (msg.event === 'result') {
      end = mark();
      result = msg as ClientResult;
    }
  }
  rss?.stop();
  clearInterval(scraper);
  const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)));
  if (!result || code !== 0) throw new Error(`client for ${name} failed (exit ${code})`);
  const stats = await settleChats(emulatorUrl);
  await control(emulatorUrl, 'POST', 'reset');
  const wall = end.at - start.at;
  const gateway = spec.target === 'gateway';
  const { event: _event, ...client } = result;
  return {
    name,
    target: spec.target,
    role: opts.role ?? (gateway ? 'service' : 'baseline'),
    ...(opts.pair ? { pair: opts.pair } : {}),
    stream: spec.stream,
    connections: spec.connections,
    ...client,
    serviceCpuMsPerCompletion: gateway ? round((end.svc - start.svc) / Math.max(1, result.completions), 3) : null,
    serviceCpuPct: gateway ? round(((end.svc - start.svc) / wall) * 100, 0) : null,
    emulatorCpuPct: round(((end.emu - start.emu) / wall) * 100, 0),
    clientCpuPct: round(((result.clientCpuMsPerCompletion * result.completions) / wall) * 100, 0),
    otherCpuPct: round(((end.sys.busy - start.sys.busy - (end.svc - start.svc) - (end.emu - start.emu) - result.clientCpuMsPerCompletion * result.completions) / wall) * 100, 0),
    stealPct: round(((end.sys.steal - start.sys.steal) / wall) * 100, 0),
    windowUs: [start.us, end.us],
    windowEpochMs: [start.epoch, end.epoch],
    peakRssMb: rss ? round(rss.peak, 1) : null,
    leakedChats: stats.liveChats,
  };
}

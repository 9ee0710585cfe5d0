import { Pool } from 'undici';
import { drive, percentile, round, type Outcome } from './lib/driver.js';
import { callGateway } from './lib/gateway.js';
import { history } from './lib/scaling.js';
import { createUpstreamClient, type Dialect } from './lib/upstream.js';

// A load client in its own process, so that its CPU is its own and the service's /proc figures are
// the service's alone. Started by bench/run.ts with BENCH_SPEC; prints one JSON line when the
// measured window opens ({"event":"start"}) and one with the results ({"event":"result",...}).

/** What bench/run.ts asks of a client process. */
export interface ClientSpec {
  /** `gateway`: completions through the service; `baseline`: the same upstream calls, direct. */
  target: 'gateway' | 'baseline';
  stream: boolean;
  connections: number;
  warmupMs: number;
  durationMs: number;
  count?: number;
  /** Spread the first requests over this long. */
  rampMs?: number;
  /** Service URL (gateway) or emulator URL (baseline). */
  url: string;
  /** `deviceId@token` of an emulator account this client alone uses (capy rotates refresh tokens). */
  token: string;
  dialect: Dialect;
  /** Model name sent to the gateway. */
  model: string;
  /** Prompt prefix; a sequence number is appended so answers vary. */
  prompt: string;
  /** Extra request fields (tools, stop, …); `stream_options` is sent with streams only. */
  extraBody?: Record<string, unknown>;
  /** Earlier turns before the question, about this many bytes (bench/lib/scaling.ts). */
  historyBytes?: number;
}

/** The result line a client prints. */
export interface ClientResult {
  event: 'result';
  completions: number;
  ok: number;
  errors: Record<string, number>;
  elapsedMs: number;
  perSecond: number;
  latencyP50: number;
  latencyP99: number;
  ttftP50: number;
  ttftP99: number;
  /** The client process's own CPU over the window, per completion (process.cpuUsage). */
  clientCpuMsPerCompletion: number;
}

function emit(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.BENCH_SPEC ?? '') as ClientSpec;
  let one: (seq: number, started: number) => Promise<Outcome>;
  let finish: () => Promise<void>;

  if (spec.target === 'gateway') {
    const origin = new URL(spec.url).origin;
    const pool = new Pool(origin, { connections: spec.connections, keepAliveTimeout: 60_000 });
    const { stream_options: streamOptions, ...extra } = spec.extraBody ?? {};
    const fields = spec.stream && streamOptions ? { ...extra, stream_options: streamOptions } : extra;
    const earlier = spec.historyBytes ? history(spec.historyBytes) : [];
    one = async (seq, started) => {
      const body = { ...fields, model: spec.model, messages: [...earlier, { role: 'user', content: `${spec.prompt} ${seq % 997}` }], stream: spec.stream };
      const r = await callGateway(pool, origin, spec.token, body, started);
      const ok = r.done && r.status === 200 && (spec.stream ? r.ttftMs >= 0 : r.text.length > 0);
      return { ok, ttftMs: spec.stream ? r.ttftMs : -1, error: ok ? undefined : `HTTP ${r.status} ${r.errorCode ?? 'incomplete'}` };
    };
    finish = () => pool.close();
  } else {
    const upstream = await createUpstreamClient(spec.url, spec.token, spec.dialect);
    one = async (seq, started) => {
      const r = await upstream.complete(`${spec.prompt} ${seq % 997}`, started);
      return { ok: r.text.length > 0, ttftMs: r.ttftMs };
    };
    finish = async () => {
      await upstream.drain();
      await upstream.close();
    };
  }

  let cpuAtStart = process.cpuUsage();
  const res = await drive(
    {
      connections: spec.connections,
      warmupMs: spec.warmupMs,
      durationMs: spec.durationMs,
      count: spec.count,
      rampMs: spec.rampMs,
      onStart: () => {
        cpuAtStart = process.cpuUsage();
        emit({ event: 'start' });
      },
    },
    one,
  );
  const cpu = process.cpuUsage(cpuAtStart);
  const result: ClientResult = {
    event: 'result',
    completions: res.completions,
    ok: res.ok,
    errors: res.errors,
    elapsedMs: round(res.elapsedMs, 0),
    perSecond: round((res.completions / res.elapsedMs) * 1000, 1),
    latencyP50: round(percentile(res.latencies, 50)),
    latencyP99: round(percentile(res.latencies, 99)),
    ttftP50: round(percentile(res.ttfts, 50)),
    ttftP99: round(percentile(res.ttfts, 99)),
    clientCpuMsPerCompletion: round((cpu.user + cpu.system) / 1000 / Math.max(1, res.completions), 3),
  };
  emit(result);
  await finish();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

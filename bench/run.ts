import { readdirSync, statSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { round } from './lib/driver.js';
import { printProfile, summarizeProfile, type ProfileSummary } from './lib/profile.js';
import { stageBreakdown } from './lib/stages.js';
import { build, OUT, ROOT, rssAnonMb, rssMb, SERVICE_DIR, startFlags, startEmulatorProc, startRelayProc, startServiceProc, stop, type EmulatorProc } from './lib/procs.js';
import { compare, compareRelay, printReport, verdicts } from './lib/report.js';
import { runScale, type ScaleResult } from './lib/scale.js';
import { runScaling, type ScalingRow } from './lib/scaling.js';
import { sieveCost } from './lib/sieve-cost.js';
import { tokenizerCost } from './lib/tokenizer-cost.js';
import { control, newAccount, runScenario, type ScenarioResult } from './lib/scenario.js';
import type { Dialect } from './lib/upstream.js';

// npm run bench: builds the service, starts the emulator and the service as separate processes,
// and measures throughput, latency, time to first token, service CPU and RSS for stream and
// non-stream at several concurrencies, next to a baseline client that makes the same upstream
// calls directly; then 1,000 concurrent streams; then a CPU profile of the 32-connection stream and
// non-stream scenarios. Prints tables and writes bench/results.json. Knobs (env):
//   BENCH_SECONDS=12           measured seconds per scenario (after BENCH_WARMUP_SECONDS=2)
//   BENCH_CONNECTIONS=1,32     concurrency levels
//   BENCH_PAIRS=3              interleaved service/bare-relay pairs per level and mode (ratios: their median)
//   BENCH_FEATURES=1           every feature on in the service's requests: a tool offered, a stop
//                              sequence, stream usage; /metrics scraped every 5 s (0: plain requests)
//   BENCH_SCALE_STREAMS=1000   streams held open at once (0 skips); BENCH_SCALE_DELAY_MS=700 between
//                              frames; BENCH_SCALE_RAMP_MS=5000 to open them all
//   BENCH_PROFILE=1            profile the service (node --cpu-prof) at 32 connections (0 skips)
//   BENCH_DIALECT=capy         upstream dialect of the emulator and the service (or yuewen)
//   BENCH_PHASES=throughput,scale,profile,tokenizer,tools   which parts to run (tokenizer: CPU of the o200k
//                              usage count per completion; tools: what the tool sieve adds to an answer
//                              when tools are offered, CPU and time to first content; both in this process)
//   BENCH_PHASES=…,scaling     (not by default) streamed cost against answer length (BENCH_SCALING_FRAMES=20,200,2000),
//                              history (BENCH_SCALING_HISTORY=1000,100000,1000000 bytes) and server pool size
//                              (BENCH_SCALING_POOL=1,100,10000 accounts); BENCH_SCALING_SECONDS=8, _CONNECTIONS=32
//   BENCH_FRAGMENT=1           the emulator's random fragmentation (0: one write per envelope)
//   BENCH_MODEL=step-auto      model name clients send (an unlisted name is logged at info)
//   BENCH_QUIET_WAIT_MS=20000  before each scenario, wait up to this long for the machine to be quiet
//   BENCH_SERVICE_NODE_ARGS=   extra node flags for the service, e.g. --max-semi-space-size=2
//   BENCH_EMULATOR_NODE_ARGS=  extra node flags for the emulator, e.g. --cpu-prof --cpu-prof-dir=/tmp/emu
//   BENCH_SERVICE_DIR=         measure the service of another checkout (before/after comparisons)
//   BENCH_IDLE_SETTLE_SECONDS=25  idle RSS is read 3 s after start and again this long after (settled)
//   BENCH_SKIP_BUILD=1         use dist/ as it is

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 12);
const WARMUP_MS = Number(env.BENCH_WARMUP_SECONDS ?? 2) * 1000;
const LEVELS = (env.BENCH_CONNECTIONS ?? '1,32').split(',').map(Number);
const PAIRS = Number(env.BENCH_PAIRS ?? 3);
const FEATURES = env.BENCH_FEATURES !== '0';
/** What "every feature on" adds to a request: the tool sieve, stop scanning and usage counting all run. */
export const FEATURE_BODY = {
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ],
  tool_choice: 'auto',
  stop: ['<<END-OF-ANSWER>>'],
  stream_options: { include_usage: true },
};
const SCALE_STREAMS = Number(env.BENCH_SCALE_STREAMS ?? 1000);
const SCALE_DELAY_MS = Number(env.BENCH_SCALE_DELAY_MS ?? 700);
const SCALE_RAMP_MS = Number(env.BENCH_SCALE_RAMP_MS ?? 5000);
const PHASES = new Set((env.BENCH_PHASES ?? 'throughput,scale,profile,tokenizer,tools').split(','));
const PROFILE = env.BENCH_PROFILE !== '0' && PHASES.has('profile');
const DIALECT = (env.BENCH_DIALECT ?? 'capy') as Dialect;
// A model the upstream lists (what clients pick from GET /v1/models) unless BENCH_MODEL says otherwise.
const MODEL = env.BENCH_MODEL ?? (DIALECT === 'capy' ? 'step-auto' : 'step');
const FRAGMENT = env.BENCH_FRAGMENT !== '0';
const IDLE_SETTLE_MS = Number(env.BENCH_IDLE_SETTLE_SECONDS ?? 25) * 1000;
const CTX = { dialect: DIALECT, model: MODEL };
const FRAMES = 20;
const PROMPT = 'benchmark question 基准测试 🚀';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function machine() {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memoryGb: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    kernel: release(),
    date: new Date().toISOString(),
    /** 1/5/15-minute load averages when the run ended (this run's own processes count too). */
    loadAverage: loadavg().map((l) => round(l, 2)),
  };
}

/**
 * RSS 3 s after `since`, then once V8 has settled: its memory reducer gives back the start-up (or
 * load) heap only after some seconds without allocation, so an idle service sits at the later figure.
 */
async function idleRss(pid: number): Promise<{ early: number; settled: number; anonSettled: number }> {
  await sleep(3000);
  const early = round(rssMb(pid), 1);
  if (IDLE_SETTLE_MS > 3000) await sleep(IDLE_SETTLE_MS - 3000);
  return { early, settled: round(rssMb(pid), 1), anonSettled: round(rssAnonMb(pid), 1) };
}

async function throughput(emu: EmulatorProc): Promise<{ results: ScenarioResult[]; idle: Awaited<ReturnType<typeof idleRss>>; afterLoad: Awaited<ReturnType<typeof idleRss>> }> {
  const svc = await startServiceProc({ upstream: emu.url, dialect: DIALECT, name: 'bench-service' });
  const relay = await startRelayProc(emu.url, DIALECT, await newAccount(emu.url));
  try {
    const idle = await idleRss(svc.pid);
    console.log(`service pid ${svc.pid}, idle RSS ${idle.early} MB 3 s after start, ${idle.settled} MB settled (${idle.anonSettled} MB anonymous); log: ${svc.logFile}`);
    const pids = { service: svc.pid, emulator: emu.pid };
    const token = await newAccount(emu.url);
    const base = { ...CTX, warmupMs: WARMUP_MS, durationMs: SECONDS * 1000, token, prompt: PROMPT };
    const extraBody = FEATURES ? FEATURE_BODY : undefined;
    const metricsUrl = FEATURES ? `${svc.url}/metrics` : undefined;
    // Warm the JIT of both paths of both servers once before anything is measured.
    for (const stream of [true, false]) {
      await runScenario('warm-up', { ...base, target: 'gateway', stream, connections: 32, warmupMs: 0, durationMs: 2000, url: svc.url, extraBody }, pids, emu.url);
      await runScenario('warm-up', { ...base, target: 'gateway', stream, connections: 32, warmupMs: 0, durationMs: 2000, url: relay.url }, { service: relay.pid, emulator: emu.pid }, emu.url);
    }
    const results: ScenarioResult[] = [];
    const say = (r: ScenarioResult) => console.log(`${r.perSecond}/s, p50 ${r.latencyP50} ms, ${r.serviceCpuMsPerCompletion ?? r.clientCpuMsPerCompletion} ms CPU/completion`);
    for (const connections of LEVELS) {
      process.stdout.write(`baseline client @${connections} … `);
      const b = await runScenario('baseline client', { ...base, target: 'baseline', stream: true, connections, url: emu.url, token: await newAccount(emu.url) }, pids, emu.url, { role: 'baseline' });
      say(b);
      results.push(b);
      // Service and relay side by side, the order swapped every pair so neither always goes first.
      for (let pair = 1; pair <= PAIRS; pair++) {
        for (const stream of [true, false]) {
          const mode = stream ? 'stream' : 'non-stream';
          const both = [
            { role: 'relay' as const, name: `relay ${mode}`, url: relay.url, pid: relay.pid },
            { role: 'service' as const, name: `service ${mode}`, url: svc.url, pid: svc.pid },
          ];
          if (pair % 2 === 0) both.reverse();
          for (const side of both) {
            process.stdout.write(`${side.name} @${connections} (pair ${pair}) … `);
            const spec = { ...base, target: 'gateway' as const, stream, connections, url: side.url, ...(side.role === 'service' ? { extraBody } : {}) };
            const r = await runScenario(side.name, spec, { service: side.pid, emulator: emu.pid }, emu.url, { role: side.role, pair, metricsUrl: side.role === 'service' ? metricsUrl : undefined });
            say(r);
            results.push(r);
          }
        }
      }
    }
    const afterLoad = await idleRss(svc.pid);
    return { results, idle, afterLoad };
  } finally {
    await stop(svc.child);
    await stop(relay.child);
  }
}

interface Profiled {
  mode: 'stream' | 'non-stream';
  scenario: ScenarioResult;
  summary: ProfileSummary;
  /** Self time by stage of a completion (bench/lib/stages.ts). */
  stages: ReturnType<typeof stageBreakdown>;
}

/** One service under --cpu-prof, stream @32 then non-stream @32; each window summarized on its own. */
async function profile(emu: EmulatorProc): Promise<{ file: string; runs: Profiled[] }> {
  const dir = join(OUT, 'profile');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const svc = await startServiceProc({ upstream: emu.url, dialect: DIALECT, name: 'profile-service', nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  const scenarios: { mode: Profiled['mode']; scenario: ScenarioResult }[] = [];
  try {
    const token = await newAccount(emu.url);
    for (const stream of [true, false]) {
      const spec = { ...CTX, target: 'gateway' as const, stream, connections: 32, warmupMs: WARMUP_MS, durationMs: SECONDS * 1000, url: svc.url, token, prompt: PROMPT, extraBody: FEATURES ? FEATURE_BODY : undefined };
      const mode = stream ? 'stream' : 'non-stream';
      const metricsUrl = FEATURES ? `${svc.url}/metrics` : undefined;
      scenarios.push({ mode, scenario: await runScenario(`service ${mode} (profiled)`, spec, { service: svc.pid, emulator: emu.pid }, emu.url, { metricsUrl }) });
    }
  } finally {
    // SIGINT: the service closes gracefully and exits, which is when V8 writes the profile.
    await stop(svc.child, 'SIGINT', 20_000);
  }
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  return { file, runs: scenarios.map((s) => ({ ...s, summary: summarizeProfile(file, 25, s.scenario.windowUs), stages: stageBreakdown(file, s.scenario.windowUs, s.mode === 'stream') })) };
}

async function main(): Promise<void> {
  if (env.BENCH_SKIP_BUILD !== '1') build();
  const emu = await startEmulatorProc(DIALECT);
  try {
    await control(emu.url, 'POST', 'config', { fragment: FRAGMENT, frames: FRAMES, frameDelayMs: 0 });
    console.log(`service (${SERVICE_DIR}) runs as: node ${[...startFlags(), env.BENCH_SERVICE_NODE_ARGS ?? ''].join(' ').trim()} dist/src/server.js`);
    console.log(`emulator pid ${emu.pid} at ${emu.url} (${DIALECT} dialect, fragmentation ${FRAGMENT ? 'on' : 'off'}, ${FRAMES} frames per answer)`);
    const none = { early: NaN, settled: NaN, anonSettled: NaN };
    const { results, idle, afterLoad } = PHASES.has('throughput') ? await throughput(emu) : { results: [], idle: none, afterLoad: none };

    let scale: ScaleResult | undefined;
    if (SCALE_STREAMS > 0 && PHASES.has('scale')) {
      console.log(`scale: ${SCALE_STREAMS} concurrent streams opened over ${SCALE_RAMP_MS} ms, ${SCALE_DELAY_MS} ms between frames …`);
      scale = await runScale(emu, { ...CTX, extraBody: FEATURES ? FEATURE_BODY : undefined }, SCALE_STREAMS, SCALE_DELAY_MS, SCALE_RAMP_MS);
    }
    let scaling: ScalingRow[] | undefined;
    if (PHASES.has('scaling')) {
      const list = (name: string, def: string) => (env[name] ?? def).split(',').filter(Boolean).map(Number);
      scaling = await runScaling(
        emu,
        {
          ...CTX,
          prompt: PROMPT,
          connections: Number(env.BENCH_SCALING_CONNECTIONS ?? 32),
          seconds: Number(env.BENCH_SCALING_SECONDS ?? 8),
          extraBody: FEATURES ? FEATURE_BODY : undefined,
          frames: list('BENCH_SCALING_FRAMES', '20,200,2000'),
          historyBytes: list('BENCH_SCALING_HISTORY', '1000,100000,1000000'),
          poolSizes: list('BENCH_SCALING_POOL', '1,100,10000'),
        },
        FRAMES,
      );
    }
    let prof: Awaited<ReturnType<typeof profile>> | undefined;
    if (PROFILE) {
      console.log('profiling the service during stream and non-stream @32 …');
      prof = await profile(emu);
    }

    const cmp = compare(results);
    const vsRelay = compareRelay(results);
    const v = verdicts(vsRelay, idle.settled, scale);
    printReport(results, cmp, vsRelay, v, scale);
    console.log(
      `\nidle RSS: ${idle.early} MB 3 s after start, ${idle.settled} MB settled (${idle.anonSettled} MB of it anonymous, the rest the mapped node binary and libraries); ` +
        `after the load ${afterLoad.early} MB, settled ${afterLoad.settled} MB`,
    );
    if (scaling) {
      console.log('\nScaling, streamed, every feature on (CPU ms per completion; latency ms)\n');
      for (const r of scaling) {
        const ok = r.completions - Object.values(r.errors).reduce((a, b) => a + b, 0);
        console.log(
          `  ${r.axis.padEnd(14)} ${r.value.padStart(8)}  ${String(r.perSecond).padStart(7)}/s  CPU ${String(r.cpuMsPerCompletion).padStart(7)}  p50 ${String(r.latencyP50).padStart(8)}  p99 ${String(r.latencyP99).padStart(8)}  peak RSS ${r.peakRssMb} MB  ok ${ok}/${r.completions} ${JSON.stringify(r.errors)}`,
        );
      }
    }
    for (const run of prof?.runs ?? []) {
      console.log(`\n=== CPU profile, ${run.mode} @32 (${run.scenario.perSecond}/s, ${run.scenario.serviceCpuMsPerCompletion} ms CPU/completion while profiled)`);
      printProfile(run.summary);
      const cpu = run.scenario.serviceCpuMsPerCompletion ?? 0;
      console.log('\nBy stage (self time; ms per completion from the profiled CPU per completion):');
      for (const st of run.stages) console.log(`  ${st.stage.padEnd(16)} ${st.pct.toFixed(1).padStart(5)} %  ${((st.pct / 100) * cpu).toFixed(3).padStart(7)} ms`);
    }
    if (prof) console.log(`\n(profile: ${prof.file})`);
    const tokenizer = PHASES.has('tokenizer') ? await tokenizerCost(PROMPT, FRAMES) : undefined;
    if (tokenizer) {
      const perCompletion = results.find((r) => r.name === 'service non-stream')?.serviceCpuMsPerCompletion;
      const share = perCompletion ? ` (${round((tokenizer.usageUsPerCompletion / 10 / perCompletion), 1)} % of the service's CPU per non-stream completion)` : '';
      console.log(
        `\ntoken usage (o200k): ${tokenizer.usageUsPerCompletion} µs CPU per completion for a ${tokenizer.promptTokens}-token prompt and a ${tokenizer.answerTokens}-token answer${share}; ` +
          `${tokenizer.cappedUsPerCompletion} µs with a max_tokens cap (re-counted per delta)`,
      );
    }
    const tools = PHASES.has('tools') ? await sieveCost(PROMPT, FRAMES) : undefined;
    if (tools) {
      console.log(
        `\ntool sieve (tools offered): ${tools.plainUs} µs CPU per ${FRAMES}-frame answer without a call (${tools.noSieveUs} µs without tools), ` +
          `${tools.callUs} µs for an answer that is a call; first content after ${tools.framesToFirstContent} upstream frame(s) on average (1 = none held), ` +
          `${tools.firstContentUs} µs from the first frame in to the first content out (${tools.firstContentNoSieveUs} µs without tools)`,
      );
    }
    const out = {
      machine: machine(),
      settings: {
        serviceDir: SERVICE_DIR,
        serviceCommand: ['node', ...startFlags(), ...(env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean), 'dist/src/server.js'].join(' '),
        dialect: DIALECT,
        model: MODEL,
        seconds: SECONDS,
        warmupMs: WARMUP_MS,
        levels: LEVELS,
        frames: FRAMES,
        fragment: FRAGMENT,
        logLevel: 'info',
        prompt: PROMPT,
        pairs: PAIRS,
        features: FEATURES ? FEATURE_BODY : null,
      },
      idleRssMb: { settleSeconds: IDLE_SETTLE_MS / 1000, atStart: idle, afterLoad },
      scenarios: results,
      comparisons: cmp,
      vsRelay,
      scale,
      scaling,
      profile: prof,
      tokenizer,
      tools,
      targets: v,
    };
    writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log('\nwrote bench/results.json');
  } finally {
    await stop(emu.child);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

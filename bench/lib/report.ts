import { round } from './driver.js';
import type { ScaleResult } from './scale.js';
import type { ScenarioResult } from './scenario.js';

// Turns scenario results into the comparison with the baseline, the target verdicts and the
// printed tables.

export interface Comparison {
  connections: number;
  mode: 'stream' | 'non-stream';
  /** Gateway minus baseline, and gateway / baseline. */
  latencyP50: { diffMs: number; ratio: number };
  latencyP99: { diffMs: number; ratio: number };
  /** Stream only: time to first content. */
  ttftP50: { diffMs: number; ratio: number } | null;
  /** Service CPU per completion vs the baseline client's own CPU per completion. */
  cpuPerCompletion: { diffMs: number; ratio: number };
  throughputRatio: number;
}

export interface Verdict {
  target: string;
  value: string;
  met: boolean;
}

const diff = (a: number, b: number) => ({ diffMs: round(a - b), ratio: round(a / b) });

/** Median of a list (mean of the middle two for an even count); NaN for none. */
export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const runsOf = (results: ScenarioResult[], role: 'service' | 'relay', stream: boolean, connections: number) =>
  results.filter((r) => r.role === role && r.stream === stream && r.connections === connections).sort((a, b) => (a.pair ?? 0) - (b.pair ?? 0));

/** One figure per run made into the median over the service's runs at that level and mode. */
function medianRun(runs: ScenarioResult[]): ScenarioResult {
  const m = (pick: (r: ScenarioResult) => number | null) => round(median(runs.map((r) => pick(r) ?? Number.NaN)), 3);
  return {
    ...runs[0]!,
    perSecond: m((r) => r.perSecond),
    latencyP50: m((r) => r.latencyP50),
    latencyP99: m((r) => r.latencyP99),
    ttftP50: m((r) => r.ttftP50),
    serviceCpuMsPerCompletion: m((r) => r.serviceCpuMsPerCompletion),
  };
}

/** Pairs the service (median of its runs) with the baseline client run at the same concurrency. */
export function compare(results: ScenarioResult[]): Comparison[] {
  const out: Comparison[] = [];
  for (const b of results.filter((r) => r.role === 'baseline')) {
    for (const stream of [true, false]) {
      const runs = runsOf(results, 'service', stream, b.connections);
      if (runs.length === 0) continue;
      const g = medianRun(runs);
      out.push({
        connections: g.connections,
        mode: stream ? 'stream' : 'non-stream',
        latencyP50: diff(g.latencyP50, b.latencyP50),
        latencyP99: diff(g.latencyP99, b.latencyP99),
        ttftP50: stream ? diff(g.ttftP50, b.ttftP50) : null,
        cpuPerCompletion: diff(g.serviceCpuMsPerCompletion ?? Number.NaN, b.clientCpuMsPerCompletion),
        throughputRatio: round(g.perSecond / b.perSecond),
      });
    }
  }
  return out;
}

/** The service against the bare relay: one ratio per interleaved pair, and their median. */
export interface RelayComparison {
  connections: number;
  mode: 'stream' | 'non-stream';
  pairs: number;
  /** Service CPU per completion / relay CPU per completion. */
  cpuRatio: { perPair: number[]; median: number };
  /** Service completions/s / relay completions/s. */
  throughputRatio: { perPair: number[]; median: number };
  /** Stream only: service TTFT p50 minus relay TTFT p50 (ms). */
  ttftP50Diff: { perPair: number[]; median: number } | null;
  latencyP50Ratio: { perPair: number[]; median: number };
  latencyP99Ratio: { perPair: number[]; median: number };
  /** Medians of the raw figures. */
  serviceCpuMs: number;
  relayCpuMs: number;
}

/** Matches each service run with the relay run of the same pair, level and mode. */
export function compareRelay(results: ScenarioResult[]): RelayComparison[] {
  const out: RelayComparison[] = [];
  const levels = [...new Set(results.filter((r) => r.role === 'relay').map((r) => r.connections))];
  for (const connections of levels) {
    for (const stream of [true, false]) {
      const relay = runsOf(results, 'relay', stream, connections);
      const pairs = runsOf(results, 'service', stream, connections)
        .map((s) => ({ s, r: relay.find((r) => r.pair === s.pair) }))
        .filter((p): p is { s: ScenarioResult; r: ScenarioResult } => p.r !== undefined);
      if (pairs.length === 0) continue;
      const of = (f: (s: ScenarioResult, r: ScenarioResult) => number) => {
        const perPair = pairs.map(({ s, r }) => round(f(s, r)));
        return { perPair, median: round(median(perPair)) };
      };
      out.push({
        connections,
        mode: stream ? 'stream' : 'non-stream',
        pairs: pairs.length,
        cpuRatio: of((s, r) => (s.serviceCpuMsPerCompletion ?? Number.NaN) / (r.serviceCpuMsPerCompletion ?? Number.NaN)),
        throughputRatio: of((s, r) => s.perSecond / r.perSecond),
        ttftP50Diff: stream ? of((s, r) => s.ttftP50 - r.ttftP50) : null,
        latencyP50Ratio: of((s, r) => s.latencyP50 / r.latencyP50),
        latencyP99Ratio: of((s, r) => s.latencyP99 / r.latencyP99),
        serviceCpuMs: round(median(pairs.map(({ s }) => s.serviceCpuMsPerCompletion ?? Number.NaN)), 3),
        relayCpuMs: round(median(pairs.map(({ r }) => r.serviceCpuMsPerCompletion ?? Number.NaN)), 3),
      });
    }
  }
  return out;
}

/** The targets that the bench measures (the soak checks its own), against the bare relay. */
export function verdicts(relay: RelayComparison[], idleRssMb: number, scale: ScenarioScale | undefined): Verdict[] {
  const v: Verdict[] = [];
  const at = (mode: 'stream' | 'non-stream', c: number) => relay.find((x) => x.mode === mode && x.connections === c);
  const list = (xs: number[], unit = '×') => xs.map((x) => `${x}${unit}`).join(', ');
  for (const [mode, cpuLimit] of [['stream', 1.4], ['non-stream', 1.15]] as const) {
    const c = at(mode, 32);
    if (!c) continue;
    v.push({
      target: `${mode} CPU per completion ≤ ${cpuLimit}× the relay's (32 conns, median of ${c.pairs} pairs)`,
      value: `${c.cpuRatio.median}× (${c.serviceCpuMs} vs ${c.relayCpuMs} ms; pairs ${list(c.cpuRatio.perPair)})`,
      met: c.cpuRatio.median <= cpuLimit,
    });
    v.push({
      target: `${mode} completions/s ≥ 0.75× the relay's (32 conns)`,
      value: `${c.throughputRatio.median}× (pairs ${list(c.throughputRatio.perPair)})`,
      met: c.throughputRatio.median >= 0.75,
    });
  }
  const t1 = at('stream', 1)?.ttftP50Diff;
  if (t1) v.push({ target: 'added TTFT p50 at 1 conn ≤ 1 ms over the relay', value: `+${t1.median} ms (pairs ${list(t1.perPair, ' ms')})`, met: t1.median <= 1 });
  if (scale) {
    v.push({
      target: `RSS ≤ 150 MB with ${scale.streams} concurrent streams`,
      value: `${scale.peakRssMb} MB peak (${scale.peakUpstreamStreams} upstream streams open at once)`,
      met: (scale.peakRssMb ?? Infinity) <= 150 && scale.completed === scale.streams,
    });
  }
  if (Number.isFinite(idleRssMb)) v.push({ target: 'idle RSS ≤ 70 MB (settled)', value: `${idleRssMb} MB`, met: idleRssMb <= 70 });
  else if (scale) v.push({ target: 'idle RSS ≤ 70 MB (3 s after start)', value: `${scale.idleRssMb} MB`, met: scale.idleRssMb <= 70 });
  return v;
}

type ScenarioScale = ScaleResult;

function table(head: string[], rows: (string | number | null)[][]): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (c === null || Number.isNaN(c) ? '–' : String(c))))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const right = head.map((_, i) => i > 0 && cells.slice(1).every((r) => /^[-+–]?[\d.]*[×%]?$/.test(r[i]!)));
  return cells.map((r) => r.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** Prints everything the bench measured. */
export function printReport(results: ScenarioResult[], cmp: Comparison[], relay: RelayComparison[], v: Verdict[], scale: ScaleResult | undefined): void {
  console.log('\nThroughput and latency (ms; CPU ms per completion; CPU% = share of one core over the window)\n');
  console.log(
    table(
      ['scenario', 'pair', 'conns', 'compl/s', 'lat p50', 'lat p99', 'TTFT p50', 'TTFT p99', 'server CPU/c', 'base CPU/c', 'server CPU%', 'emu CPU%', 'cli CPU%', 'other CPU%', 'peak RSS', 'errors'],
      results.map((r) => [
        r.name,
        r.pair ?? null,
        r.connections,
        r.perSecond,
        r.latencyP50,
        r.latencyP99,
        r.stream || r.role === 'baseline' ? r.ttftP50 : null,
        r.stream || r.role === 'baseline' ? r.ttftP99 : null,
        r.serviceCpuMsPerCompletion,
        r.role === 'baseline' ? r.clientCpuMsPerCompletion : null,
        r.serviceCpuPct,
        r.emulatorCpuPct,
        r.clientCpuPct,
        r.otherCpuPct,
        r.peakRssMb,
        r.completions - r.ok,
      ]),
    ),
  );
  console.log('\nService vs bare relay (bench/relay.ts), median over interleaved pairs [each pair]\n');
  const pp = (x: { perPair: number[]; median: number } | null) => (x ? `${x.median} [${x.perPair.join(' ')}]` : null);
  console.log(
    table(
      ['mode', 'conns', 'pairs', 'svc CPU/c', 'relay CPU/c', 'CPU ×', 'compl/s ×', 'TTFT p50 +ms', 'lat p50 ×', 'lat p99 ×'],
      relay.map((c) => [c.mode, c.connections, c.pairs, c.serviceCpuMs, c.relayCpuMs, pp(c.cpuRatio), pp(c.throughputRatio), pp(c.ttftP50Diff), pp(c.latencyP50Ratio), pp(c.latencyP99Ratio)]),
    ),
  );
  console.log('\nService (median of its runs) vs baseline client at the same concurrency (difference, ratio)\n');
  console.log(
    table(
      ['mode', 'conns', 'lat p50 +ms', '×', 'lat p99 +ms', '×', 'TTFT p50 +ms', '×', 'CPU/c +ms', '×', 'compl/s ×'],
      cmp.map((c) => [
        c.mode,
        c.connections,
        c.latencyP50.diffMs,
        c.latencyP50.ratio,
        c.latencyP99.diffMs,
        c.latencyP99.ratio,
        c.ttftP50?.diffMs ?? null,
        c.ttftP50?.ratio ?? null,
        c.cpuPerCompletion.diffMs,
        c.cpuPerCompletion.ratio,
        c.throughputRatio,
      ]),
    ),
  );
  if (scale) {
    console.log(`\nScale: ${scale.streams} concurrent streams opened over ${scale.rampMs} ms, ${scale.frameDelayMs} ms between frames`);
    console.log(
      `  completed ${scale.completed}/${scale.streams} in ${(scale.durationMs / 1000).toFixed(1)} s; peak upstream streams open ${scale.peakUpstreamStreams}; ` +
        `TTFT p50 ${scale.ttftP50} ms, p99 ${scale.ttftP99} ms; errors ${JSON.stringify(scale.errors)}`,
    );
    const m = scale.atPeak;
    console.log(`  service RSS idle ${scale.idleRssMb} MB, peak ${scale.peakRssMb} MB; CPU ${scale.serviceCpuMsPerCompletion} ms per stream`);
    if (m) console.log(`  at the peak: heap ${m.heapUsed} MB used of ${m.heapTotal} MB, external ${m.external} MB (array buffers ${m.arrayBuffers} MB)`);
    const e = scale.eventLoopDelay;
    const h = scale.eventLoopDelayHolding;
    console.log(`  event-loop delay (in-process, per 1 s window), whole run: p50 ${e.p50} ms, worst p99 ${e.worstP99} ms, max ${e.max} ms`);
    console.log(`  … while all streams were open: p50 ${h.p50} ms, worst p99 ${h.worstP99} ms, max ${h.max} ms`);
    console.log(`  GET /ping from outside (${scale.ping.samples} samples): p50 ${scale.ping.p50} ms, p99 ${scale.ping.p99} ms, max ${scale.ping.max} ms`);
    console.log(`  leaked upstream chats: ${scale.leakedChats}`);
  }
  console.log('\nTargets\n');
  console.log(table(['target', 'measured', 'verdict'], v.map((x) => [x.target, x.value, x.met ? 'met' : 'NOT MET'])));
}

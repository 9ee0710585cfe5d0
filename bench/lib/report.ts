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

/** Pairs every gateway scenario with the baseline run at the same concurrency. */
export function compare(results: ScenarioResult[]): Comparison[] {
  const out: Comparison[] = [];
  for (const g of results.filter((r) => r.target === 'gateway')) {
    const b = results.find((r) => r.target === 'baseline' && r.connections === g.connections);
    if (!b) continue;
    out.push({
      connections: g.connections,
      mode: g.stream ? 'stream' : 'non-stream',
      latencyP50: diff(g.latencyP50, b.latencyP50),
      latencyP99: diff(g.latencyP99, b.latencyP99),
      ttftP50: g.stream ? diff(g.ttftP50, b.ttftP50) : null,
      cpuPerCompletion: diff(g.serviceCpuMsPerCompletion ?? Number.NaN, b.clientCpuMsPerCompletion),
      throughputRatio: round(g.perSecond / b.perSecond),
    });
  }
  return out;
}

/** The issue's targets that the bench measures (the soak checks its own). */
export function verdicts(results: ScenarioResult[], cmp: Comparison[], idleRssMb: number, scale: ScaleResult | undefined): Verdict[] {
  const v: Verdict[] = [];
  const at = (mode: 'stream' | 'non-stream', c: number) => results.find((r) => r.target === 'gateway' && r.stream === (mode === 'stream') && r.connections === c);
  const levels = (mode: 'stream' | 'non-stream', pick: (r: ScenarioResult) => number | null) =>
    [1, 32, 256].map((c) => `@${c}: ${at(mode, c) ? pick(at(mode, c)!) : '–'}`).join(', ');
  for (const mode of ['stream', 'non-stream'] as const) {
    const r32 = at(mode, 32);
    if (r32) {
      v.push({
        target: `service CPU per completion ≤ 2 ms (${mode}, 32 conns)`,
        value: `${r32.serviceCpuMsPerCompletion} ms (${levels(mode, (r) => r.serviceCpuMsPerCompletion)})`,
        met: (r32.serviceCpuMsPerCompletion ?? Infinity) <= 2,
      });
    }
    const c32 = cmp.find((c) => c.mode === mode && c.connections === 32);
    if (c32) {
      v.push({
        target: `service CPU ≤ 2× baseline client CPU (${mode}, 32 conns)`,
        value: `${c32.cpuPerCompletion.ratio}× (${cmp
          .filter((c) => c.mode === mode)
          .map((c) => `@${c.connections}: ${c.cpuPerCompletion.ratio}×`)
          .join(', ')})`,
        met: c32.cpuPerCompletion.ratio <= 2,
      });
    }
    if (r32) v.push({ target: `≥ 600 completions/s at 32 conns (${mode})`, value: `${r32.perSecond}/s`, met: r32.perSecond >= 600 });
  }
  const t1 = cmp.find((c) => c.mode === 'stream' && c.connections === 1)?.ttftP50;
  if (t1) v.push({ target: 'added TTFT p50 at 1 conn ≤ 2 ms over baseline', value: `+${t1.diffMs} ms (${t1.ratio}×)`, met: t1.diffMs <= 2 });
  if (scale) {
    v.push({
      target: `RSS ≤ 200 MB with ${scale.streams} concurrent streams`,
      value: `${scale.peakRssMb} MB peak (${scale.peakUpstreamStreams} upstream streams open at once)`,
      met: (scale.peakRssMb ?? Infinity) <= 200 && scale.completed === scale.streams,
    });
  }
  if (Number.isFinite(idleRssMb)) v.push({ target: 'idle RSS ≤ 80 MB (settled)', value: `${idleRssMb} MB`, met: idleRssMb <= 80 });
  else if (scale) v.push({ target: 'idle RSS ≤ 80 MB (3 s after start)', value: `${scale.idleRssMb} MB`, met: scale.idleRssMb <= 80 });
  return v;
}

function table(head: string[], rows: (string | number | null)[][]): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (c === null || Number.isNaN(c) ? '–' : String(c))))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const right = head.map((_, i) => i > 0 && cells.slice(1).every((r) => /^[-+–]?[\d.]*[×%]?$/.test(r[i]!)));
  return cells.map((r) => r.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** Prints everything the bench measured. */
export function printReport(results: ScenarioResult[], cmp: Comparison[], v: Verdict[], scale: ScaleResult | undefined): void {
  console.log('\nThroughput and latency (ms; CPU ms per completion; CPU% = share of one core over the window)\n');
  console.log(
    table(
      ['scenario', 'conns', 'compl/s', 'lat p50', 'lat p99', 'TTFT p50', 'TTFT p99', 'svc CPU/c', 'base CPU/c', 'svc CPU%', 'emu CPU%', 'cli CPU%', 'other CPU%', 'peak RSS', 'errors'],
      results.map((r) => [
        r.name,
        r.connections,
        r.perSecond,
        r.latencyP50,
        r.latencyP99,
        r.stream || r.target === 'baseline' ? r.ttftP50 : null,
        r.stream || r.target === 'baseline' ? r.ttftP99 : null,
        r.serviceCpuMsPerCompletion,
        r.target === 'baseline' ? r.clientCpuMsPerCompletion : null,
        r.serviceCpuPct,
        r.emulatorCpuPct,
        r.clientCpuPct,
        r.otherCpuPct,
        r.peakRssMb,
        r.completions - r.ok,
      ]),
    ),
  );
  console.log('\nService vs baseline client at the same concurrency (difference, ratio)\n');
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

import { round } from './driver.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, startServiceProc, stop, type EmulatorProc } from './procs.js';
import { control, newAccount, runScenario, type ScenarioResult } from './scenario.js';
import type { Dialect } from './upstream.js';

// How the cost of a streamed completion grows with the answer's length, the prompt's size and the
// server pool's size, every feature on. One scenario per row, each on the emulator's defaults
// except the one thing that varies.

export interface ScalingRow {
  axis: 'answer frames' | 'history' | 'pool accounts';
  value: string;
  perSecond: number;
  cpuMsPerCompletion: number | null;
  latencyP50: number;
  latencyP99: number;
  ttftP50: number;
  peakRssMb: number | null;
  /** Completions that did not end well, by reason. */
  errors: Record<string, number>;
  completions: number;
}

/** `bytes` of earlier turns (user and assistant alternating, 1 KB each) before the question. */
export function history(bytes: number): { role: string; content: string }[] {
  const turn = 'history line, a few words of an earlier turn of the conversation. '.repeat(20).slice(0, 990);
  return Array.from({ length: Math.max(0, Math.round(bytes / 1000)) }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `${i}: ${turn}` }));
}

const row = (axis: ScalingRow['axis'], value: string, r: ScenarioResult): ScalingRow => ({
  axis,
  value,
  perSecond: r.perSecond,
  cpuMsPerCompletion: r.serviceCpuMsPerCompletion,
  latencyP50: r.latencyP50,
  latencyP99: r.latencyP99,
  ttftP50: r.ttftP50,
  peakRssMb: r.peakRssMb,
  errors: r.errors,
  completions: r.completions,
});

export interface ScalingOptions {
  dialect: Dialect;
  model: string;
  prompt: string;
  connections: number;
  seconds: number;
  extraBody?: Record<string, unknown>;
  frames: number[];
  historyBytes: number[];
  poolSizes: number[];
}

/** Runs the scaling rows; restores the emulator's frame count to `defaultFrames` after. */
export async function runScaling(emu: EmulatorProc, o: ScalingOptions, defaultFrames: number): Promise<ScalingRow[]> {
  const rows: ScalingRow[] = [];
  const base = { dialect: o.dialect, model: o.model, prompt: o.prompt, target: 'gateway' as const, stream: true, connections: o.connections, warmupMs: 2000, durationMs: o.seconds * 1000, extraBody: o.extraBody };
  const svc = await startServiceProc({ upstream: emu.url, dialect: o.dialect, name: 'scaling-service' });
  try {
    const token = await newAccount(emu.url);
    const pids = { service: svc.pid, emulator: emu.pid };
    const metricsUrl = o.extraBody ? `${svc.url}/metrics` : undefined;
    for (const frames of o.frames) {
      await control(emu.url, 'POST', 'config', { frames });
      process.stdout.write(`scaling: ${frames} frames … `);
      const r = await runScenario(`${frames} frames`, { ...base, url: svc.url, token }, pids, emu.url, { metricsUrl });
      console.log(`${r.perSecond}/s, ${r.serviceCpuMsPerCompletion} ms CPU/completion, p99 ${r.latencyP99} ms`);
      rows.push(row('answer frames', String(frames), r));
    }
    await control(emu.url, 'POST', 'config', { frames: defaultFrames });
    for (const bytes of o.historyBytes) {
      process.stdout.write(`scaling: ${bytes} bytes of history … `);
      const r = await runScenario(`${bytes} B history`, { ...base, url: svc.url, token, historyBytes: bytes }, pids, emu.url, { metricsUrl });
      console.log(`${r.perSecond}/s, ${r.serviceCpuMsPerCompletion} ms CPU/completion, p99 ${r.latencyP99} ms, errors ${JSON.stringify(r.errors)}`);
      rows.push(row('history', `${round(bytes / 1000, 0)} KB`, r));
    }
  } finally {
    await stop(svc.child);
  }
  for (const size of o.poolSizes) {
    const tokens: string[] = [];
    for (let i = 0; i < size; i++) tokens.push(await newAccount(emu.url));
    // From a file: 10,000 tokens (≈ 680 KB) are more than one environment variable may hold.
    const tokensFile = join(OUT, `scaling-pool-${size}.tokens`);
    writeFileSync(tokensFile, tokens.join('\n'), { mode: 0o600 });
    const pool = await startServiceProc({ upstream: emu.url, dialect: o.dialect, name: `scaling-pool-${size}`, env: { STEP_TOKENS_FILE: tokensFile, API_KEYS: 'bench:bench-key-0123456789' } });
    try {
      process.stdout.write(`scaling: pool of ${size} accounts … `);
      const metricsUrl = o.extraBody ? `${pool.url}/metrics` : undefined;
      const r = await runScenario(`pool ${size}`, { ...base, url: pool.url, token: 'bench-key-0123456789' }, { service: pool.pid, emulator: emu.pid }, emu.url, { metricsUrl });
      console.log(`${r.perSecond}/s, ${r.serviceCpuMsPerCompletion} ms CPU/completion, p99 ${r.latencyP99} ms`);
      rows.push(row('pool accounts', String(size), r));
    } finally {
      await stop(pool.child);
    }
  }
  return rows;
}

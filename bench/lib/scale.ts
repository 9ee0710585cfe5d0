import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'undici';
import { percentile, round } from './driver.js';
import { OUT, rssMb, startServiceProc, stop, type EmulatorProc } from './procs.js';
import { control, newAccount, runScenario, type EmulatorStats, type ScenarioResult } from './scenario.js';
import type { Dialect } from './upstream.js';

// Holds many streams open at once against a slow emulator (a delay between frames via the
// `#delay:` prompt directive) and watches the service: RSS, event-loop delay measured in-process by
// a preloaded probe (bench/service-probe.mjs), and GET /ping latency as a client sees it.

export interface ScaleResult {
  streams: number;
  frameDelayMs: number;
  /** Stream starts were spread over this long. */
  rampMs: number;
  idleRssMb: number;
  /** What the service's memory held when its RSS peaked (process.memoryUsage, MB). */
  atPeak: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number } | null;
  peakRssMb: number | null;
  /** Most upstream streams the emulator had open at once. */
  peakUpstreamStreams: number;
  completed: number;
  errors: Record<string, number>;
  durationMs: number;
  ttftP50: number;
  ttftP99: number;
  serviceCpuMsPerCompletion: number | null;
  /** monitorEventLoopDelay in the service, per 1 s window: the whole run, and only while all streams were open. */
  eventLoopDelay: { p50: number; worstP99: number; max: number };
  eventLoopDelayHolding: { p50: number; worstP99: number; max: number };
  /** GET /ping round trips every 100 ms during the run (loopback, own connection). */
  ping: { samples: number; p50: number; p99: number; max: number };
  leakedChats: number;
  scenario: ScenarioResult;
}

/** Starts a fresh service with the probe, holds `streams` streams for about 20 × `frameDelayMs`. */
export async function runScale(emu: EmulatorProc, ctx: { dialect: Dialect; model: string; extraBody?: Record<string, unknown> }, streams: number, frameDelayMs: number, rampMs: number): Promise<ScaleResult> {
  const eldFile = join(OUT, 'scale-eld.jsonl');
  if (existsSync(eldFile)) rmSync(eldFile);
  const svc = await startServiceProc({
    upstream: emu.url,
    dialect: ctx.dialect,
    name: 'scale-service',
    nodeArgs: ['--import', './bench/service-probe.mjs'],
    env: { BENCH_ELD_FILE: eldFile },
  });
  try {
    const token = await newAccount(emu.url);
    await new Promise((r) => setTimeout(r, 3000));
    const idleRssMb = rssMb(svc.pid);

    const pingClient = new Client(svc.url, { keepAliveTimeout: 60_000 });
    const pings: { at: number; ms: number }[] = [];
    let peakUpstreamStreams = 0;
    let running = true;
    const pinger = (async () => {
      while (running) {
        const t = performance.now();
        try {
          const res = await pingClient.request({ path: '/ping', method: 'GET' });
          await res.body.text();
          pings.push({ at: Date.now(), ms: performance.now() - t });
        } catch {
          pings.push({ at: Date.now(), ms: Number.POSITIVE_INFINITY });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const watcher = (async () => {
      while (running) {
        const s = await control<EmulatorStats>(emu.url, 'GET', 'stats').catch(() => undefined);
        if (s) peakUpstreamStreams = Math.max(peakUpstreamStreams, s.activeStreams);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    const scenario = await runScenario(
      `scale ${streams} streams`,
      {
        target: 'gateway',
        stream: true,
        connections: streams,
        count: streams,
        rampMs,
        warmupMs: 0,
        durationMs: 600_000,
        url: svc.url,
        token,
        ...ctx,
        prompt: `scale test 长连接 #delay:${frameDelayMs}`,
      },
      { service: svc.pid, emulator: emu.pid },
      emu.url,
    );
    const [t0, t1] = scenario.windowEpochMs;
    const during = pings.filter((p) => p.at >= t0 && p.at <= t1).map((p) => p.ms);
    running = false;
    await Promise.all([pinger, watcher]);
    await pingClient.close();

    type Window = { at: number; p50: number; p99: number; max: number; rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
    const windows = readFileSync(eldFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Window)
      .filter((w) => w.at > t0 + 1000 && w.at <= t1 + 1000);
    // All streams are open from the end of the ramp until the first ones finish (20 frames later).
    const holding = windows.filter((w) => w.at > t0 + rampMs + 2000 && w.at <= t0 + 20 * frameDelayMs);
    const eld = (ws: Window[]) => ({
      p50: round(percentile(ws.map((w) => w.p50), 50)),
      worstP99: round(Math.max(0, ...ws.map((w) => w.p99))),
      max: round(Math.max(0, ...ws.map((w) => w.max))),
    });
    const peak = windows.reduce<Window | null>((a, w) => (!a || w.rss > a.rss ? w : a), null);
    return {
      streams,
      frameDelayMs,
      rampMs,
      idleRssMb: round(idleRssMb, 1),
      peakRssMb: scenario.peakRssMb,
      atPeak: peak && { rss: peak.rss, heapUsed: peak.heapUsed, heapTotal: peak.heapTotal, external: peak.external, arrayBuffers: peak.arrayBuffers },
      peakUpstreamStreams,
      completed: scenario.ok,
      errors: scenario.errors,
      durationMs: scenario.elapsedMs,
      ttftP50: scenario.ttftP50,
      ttftP99: scenario.ttftP99,
      serviceCpuMsPerCompletion: scenario.serviceCpuMsPerCompletion,
      eventLoopDelay: eld(windows),
      eventLoopDelayHolding: eld(holding),
      ping: { samples: during.length, p50: round(percentile(during, 50)), p99: round(percentile(during, 99)), max: round(Math.max(...during)) },
      leakedChats: scenario.leakedChats,
      scenario,
    };
  } finally {
    await stop(svc.child, 'SIGTERM');
  }
}

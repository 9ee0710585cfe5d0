// A closed-loop load driver: N workers, each issuing one completion after another. A warm-up comes
// first (connections opened, JIT warm); only completions started inside the measured window count,
// and the window closes when the last of them has finished, so every CPU millisecond they cost
// falls inside it (the bias is towards more CPU per completion, never less).

export interface Outcome {
  ok: boolean;
  /** -1 when not applicable (non-stream) or never reached. */
  ttftMs: number;
  /** Why it failed, grouped in the report. */
  error?: string;
}

export interface DriveOptions {
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Stop after this many measured completions (across all workers). */
  count?: number;
  /** Spread the workers' first requests evenly over this long (a crowd arrives, not a wall). */
  rampMs?: number;
  /** Called when the measured window opens. */
  onStart?: () => void;
}

export interface DriveResult {
  completions: number;
  ok: number;
  errors: Record<string, number>;
  latencies: number[];
  ttfts: number[];
  /** From the window opening to the last measured completion finishing. */
  elapsedMs: number;
}

/** Runs the load; `one(seq, started)` performs a completion that began at `started` (performance.now()). */
export async function drive(opts: DriveOptions, one: (seq: number, started: number) => Promise<Outcome>): Promise<DriveResult> {
  const out: DriveResult = { completions: 0, ok: 0, errors: {}, latencies: [], ttfts: [], elapsedMs: 0 };
  let measuring = false;
  let stopped = false;
  let launched = 0;
  let seq = 0;
  let windowStart = 0;

  const openWindow = (): void => {
    measuring = true;
    windowStart = performance.now();
    opts.onStart?.();
    stopTimer = setTimeout(() => (stopped = true), opts.durationMs);
  };
  let stopTimer: NodeJS.Timeout | undefined;
  const warmTimer = opts.warmupMs > 0 ? setTimeout(openWindow, opts.warmupMs) : undefined;
  if (!warmTimer) openWindow();

  async function worker(_: unknown, index: number): Promise<void> {
    if (opts.rampMs) await new Promise((r) => setTimeout(r, (index / opts.connections) * opts.rampMs!));
    while (!stopped) {
      const counted = measuring;
      if (counted) {
        if (opts.count !== undefined && launched >= opts.count) return;
        launched++;
      }
      const started = performance.now();
      let outcome: Outcome;
      try {
        outcome = await one(seq++, started);
      } catch (err) {
        outcome = { ok: false, ttftMs: -1, error: (err as Error).message.slice(0, 80) };
      }
      if (!counted) continue;
      out.completions++;
      out.latencies.push(performance.now() - started);
      if (outcome.ttftMs >= 0) out.ttfts.push(outcome.ttftMs);
      if (outcome.ok) out.ok++;
      else out.errors[outcome.error ?? 'failed'] = (out.errors[outcome.error ?? 'failed'] ?? 0) + 1;
    }
  }

  await Promise.all(Array.from({ length: opts.connections }, worker));
  clearTimeout(warmTimer);
  clearTimeout(stopTimer);
  out.elapsedMs = performance.now() - windowStart;
  return out;
}

/** Nearest-rank percentile of unsorted values (sorted in place); NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  values.sort((a, b) => a - b);
  const rank = Math.min(values.length - 1, Math.max(0, Math.ceil((p / 100) * values.length) - 1));
  return values[rank]!;
}

/** Rounds for the report. */
export function round(n: number, digits = 2): number {
  return Number.isFinite(n) ? Number(n.toFixed(digits)) : n;
}

import { performance } from 'node:perf_hooks';
import { answerFor } from '../../test/emulator/index.js';
import type { Delta } from '../../src/openai/answer.js';
import { newOutcome, runStages, type DeltaStage } from '../../src/openai/delta-stages.js';
import { toolOptions } from '../../src/tools/options.js';
import { toolSieve } from '../../src/tools/sieve.js';
import { round } from './driver.js';

/** What the tool sieve adds to a completion when tools are offered, measured in this process. */
export interface SieveCost {
  /** CPU per plain 20-frame answer through the sieve, and without it. */
  plainUs: number;
  noSieveUs: number;
  /** CPU per answer that is a call (the own block, cut into frames). */
  callUs: number;
  /** Input frames that went in before the first content came out, on average (1 = nothing added). */
  framesToFirstContent: number;
  /** Microseconds from the first frame in to the first content out (median), and the same without the sieve. */
  firstContentUs: number;
  firstContentNoSieveUs: number;
}

const TOOLS = toolOptions({
  messages: [{ role: 'user', content: 'x' }],
  tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
})!;

async function* source(frames: string[], fed: { n: number; at: number }): AsyncGenerator<Delta[]> {
  for (const f of frames) {
    if (fed.n++ === 0) fed.at = performance.now();
    yield [{ content: f }];
  }
}

/** Frames fed and microseconds until the first content delta comes out. */
async function firstContent(frames: string[], stages: DeltaStage[]): Promise<{ frames: number; us: number }> {
  const fed = { n: 0, at: 0 };
  let first: { frames: number; us: number } | undefined;
  for await (const batch of runStages(source(frames, fed), stages, newOutcome())) {
    if (!first && batch.some((d) => d.content)) first = { frames: fed.n, us: (performance.now() - fed.at) * 1000 };
  }
  return first ?? { frames: fed.n, us: NaN };
}

async function cpuPer(iterations: number, run: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 50; i++) await run(i);
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) await run(i);
  const used = process.cpuUsage(start);
  return round((used.user + used.system) / iterations, 1);
}

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export async function sieveCost(prompt: string, frames: number, iterations = 2000): Promise<SieveCost> {
  const plain = Array.from({ length: 64 }, (_, i) => answerFor(`${prompt} ${i}`, frames));
  const calls = Array.from({ length: 64 }, (_, i) => answerFor(`${prompt} #tool:own:get_weather:{"city":"c${i}"}`, frames));
  const sieve = () => [toolSieve(TOOLS)];
  const plainUs = await cpuPer(iterations, (i) => firstContent(plain[i % 64]!, sieve()));
  const noSieveUs = await cpuPer(iterations, (i) => firstContent(plain[i % 64]!, []));
  const callUs = await cpuPer(iterations, (i) => firstContent(calls[i % 64]!, sieve()));
  // One at a time: answers run concurrently would interleave and time each other.
  const withSieve: { frames: number; us: number }[] = [];
  const without: { frames: number; us: number }[] = [];
  for (let pass = 0; pass < 8; pass++) {
    for (const f of plain) withSieve.push(await firstContent(f, sieve()));
    for (const f of plain) without.push(await firstContent(f, []));
  }
  return {
    plainUs,
    noSieveUs,
    callUs,
    framesToFirstContent: round(withSieve.reduce((a, r) => a + r.frames, 0) / withSieve.length, 2),
    firstContentUs: round(median(withSieve.map((r) => r.us)), 1),
    firstContentNoSieveUs: round(median(without.map((r) => r.us)), 1),
  };
}

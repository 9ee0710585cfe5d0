import { answerFor } from '../../test/emulator/index.js';
import { newOutcome, runStages } from '../../src/openai/delta-stages.js';
import { createUsageMeter, maxTokensStage } from '../../src/openai/token-usage.js';
import type { Delta } from '../../src/openai/answer.js';
import { round } from './driver.js';

/** CPU the o200k usage count and a max_tokens cap add to one completion, measured in this process. */
export interface TokenizerCost {
  frames: number;
  promptTokens: number;
  answerTokens: number;
  /** Counting the prompt and the answer once (what every completion pays). */
  usageUsPerCompletion: number;
  /** The same with a max_tokens cap the answer never reaches (re-counted at every delta). */
  cappedUsPerCompletion: number;
}

async function drain(deltas: AsyncIterable<Delta[]>): Promise<void> {
  for await (const _ of deltas);
}

async function* source(frames: string[]): AsyncGenerator<Delta[]> {
  for (const f of frames) yield [{ content: f }];
}

async function timeIt(iterations: number, run: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 50; i++) await run(); // warm the JIT and the tokenizer's merge cache
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) await run();
  const used = process.cpuUsage(start);
  return round((used.user + used.system) / iterations, 1);
}

/** Meters the benchmark's own prompt and 20-frame answer `iterations` times, with and without a cap. */
export async function tokenizerCost(prompt: string, frames: number, iterations = 2000): Promise<TokenizerCost> {
  // A distinct prompt per run, as in real traffic: the tokenizer caches merges of words it has seen.
  const answers = Array.from({ length: 64 }, (_, i) => answerFor(`${prompt} ${i}`, frames));
  let n = 0;
  let last = { prompt_tokens: 0, completion_tokens: 0 };
  const once = (capped: boolean) => async () => {
    const frameTexts = answers[n++ % answers.length]!;
    const meter = createUsageMeter(() => `${prompt} ${n}`);
    const stages = capped ? [maxTokensStage(100_000), meter.stage] : [meter.stage];
    await drain(runStages(source(frameTexts), stages, newOutcome()));
    last = meter.usage();
  };
  const usageUs = await timeIt(iterations, once(false));
  const cappedUs = await timeIt(iterations, once(true));
  return {
    frames,
    promptTokens: last.prompt_tokens,
    answerTokens: last.completion_tokens,
    usageUsPerCompletion: usageUs,
    cappedUsPerCompletion: cappedUs,
  };
}

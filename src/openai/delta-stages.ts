import type { Delta } from './answer.js';

/** How an answer ended, as the stages over its deltas decide it. */
export interface Outcome {
  /** OpenAI's finish_reason: `stop` unless a stage says otherwise (`length`, `tool_calls`, …). */
  finishReason: string;
  /** A stage cut the answer short (stop sequence, token limit): the upstream chat no longer matches it. */
  truncated: boolean;
}

/**
 * One step over the client deltas, a batch at a time. A stage that ends the answer early returns
 * (which closes the upstream stream below it) after setting `outcome`.
 */
export type DeltaStage = (deltas: AsyncIterable<Delta[]>, outcome: Outcome) => AsyncGenerator<Delta[]>;

/**
 * A stage that never awaits: runStages runs consecutive ones in one generator layer, since each
 * layer costs promises and a suspended frame per batch, held while the stream waits for its next
 * upstream read.
 */
export interface BatchStage {
  /** Appends to `out` what `batch` gives; returns true when the answer ends here (after setting `outcome`). */
  push(batch: Delta[], out: Delta[], outcome: Outcome): boolean;
  /** Appends what it held back, once the deltas before it ran out (not when a later stage ended the answer). */
  flush?(out: Delta[], outcome: Outcome): void;
  /** However the answer ended; `complete`: the deltas ran out or a stage ended them, nobody stopped reading. */
  close?(complete: boolean, outcome: Outcome): void;
}

export function newOutcome(): Outcome {
  return { finishReason: 'stop', truncated: false };
}

/** Chains the stages in order over the deltas. */
export function runStages(deltas: AsyncIterable<Delta[]>, stages: readonly (DeltaStage | BatchStage)[], outcome: Outcome): AsyncIterable<Delta[]> {
  let source = deltas;
  let run: BatchStage[] = [];
  for (const stage of stages) {
    if (typeof stage !== 'function') {
      run.push(stage);
      continue;
    }
    if (run.length > 0) source = batchStages(source, run, outcome);
    run = [];
    source = stage(source, outcome);
  }
  return run.length > 0 ? batchStages(source, run, outcome) : source;
}

/** Consecutive batch stages as one layer, with the semantics they would have as generators of their own. */
async function* batchStages(deltas: AsyncIterable<Delta[]>, stages: readonly BatchStage[], outcome: Outcome): AsyncGenerator<Delta[]> {
  // Stages before `from` have ended (one of them ended the answer): they take no more input.
  let from = 0;
  const through = (batch: Delta[], first: number): Delta[] => {
    let out = batch;
    for (let i = first; i < stages.length && out.length > 0; i++) {
      const next: Delta[] = [];
      if (stages[i]!.push(out, next, outcome)) from = i + 1;
      out = next;
    }
    return out;
  };
  let complete = false;
  try {
    for await (const batch of deltas) {
      const out = through(batch, 0);
      if (out.length > 0) yield out;
      if (from > 0) break;
    }
    // What each stage still running held back goes through the ones after it.
    for (let i = from; i < stages.length; i = Math.max(i + 1, from)) {
      const held: Delta[] = [];
      stages[i]!.flush?.(held, outcome);
      const out = through(held, i + 1);
      if (out.length > 0) yield out;
    }
    complete = true;
  } finally {
    for (const stage of stages) stage.close?.(complete, outcome);
  }
}

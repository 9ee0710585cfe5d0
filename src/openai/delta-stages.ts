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

export function newOutcome(): Outcome {
  return { finishReason: 'stop', truncated: false };
}

/** Chains the stages in order over the deltas. */
export function runStages(deltas: AsyncIterable<Delta[]>, stages: readonly DeltaStage[], outcome: Outcome): AsyncIterable<Delta[]> {
  return stages.reduce<AsyncIterable<Delta[]>>((source, stage) => stage(source, outcome), deltas);
}

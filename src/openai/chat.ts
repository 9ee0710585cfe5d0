import type { FastifyBaseLogger } from 'fastify';
import type { AccountLease } from '../accounts/scheduler.js';
import type { ChatCompletionRequest } from '../../schemas/chat.js';
import { translateEvents, TokenCounter, type Delta, type ReasoningOutput } from './answer.js';
import { runCompletion, type CompletionDeps } from './completion.js';
import type { ConversationTurn } from './conversations.js';
import { newOutcome, runStages, type BatchStage, type DeltaStage } from './delta-stages.js';
import { BadRequestError } from '../errors.js';
import type { ModelCatalog } from './models.js';
import { completionMeta, type CompletionMeta, type CompletionResult } from './openai-format.js';
import { buildPrompt } from './prompt.js';
import { stopStage } from './stop-sequences.js';
import { createUsageMeter, maxTokensStage, type UsageMeter } from './token-usage.js';
import { createCorrector } from '../tools/correction.js';
import { jsonFormatStage } from '../tools/json-format.js';
import { formatOptions, toolOptions } from '../tools/options.js';
import { formatInstructions, toolInstructions } from '../tools/prompt.js';
import { toolSieve } from '../tools/sieve.js';
import type { Credential, OutgoingMessage } from '../upstream/types.js';

/**
 * How long a non-stream answer's upstream reads are gathered (EnvelopeFeed): each batch costs a
 * pass through ten or so stages, one per read otherwise; a stop sequence or token limit is then
 * seen at most this much later, and the answer's end at once.
 */
const NONSTREAM_GATHER_MS = 50;

export interface PlanOptions {
  models: ModelCatalog;
  searchDefault: boolean;
  log: FastifyBaseLogger;
}

/** The stages the request's options ask for over the answer (stop sequences, token limit). */
function optionStages(body: ChatCompletionRequest): BatchStage[] {
  const stages: BatchStage[] = [];
  if (body.n != null && body.n > 1) throw new BadRequestError('n: only one choice per request is supported (n must be 1)');
  const stops = (typeof body.stop === 'string' ? [body.stop] : (body.stop ?? [])).filter((s) => s !== '');
  if (stops.length > 0) stages.push(stopStage(stops));
  const limit = body.max_completion_tokens ?? body.max_tokens;
  if (limit != null) stages.push(maxTokensStage(limit));
  return stages;
}

/** What a chat-completion request asks of the upstream, checked and translated. */
export function planCompletion(body: ChatCompletionRequest, opts: PlanOptions) {
  const stages = optionStages(body);
  const tools = toolOptions(body);
  const format = formatOptions(body);
  const requested = body.model?.trim() || 'step';
  const choice = opts.models.resolve(requested);
  if (choice.unknown && opts.models.firstSighting(requested)) opts.log.info({ requested, model: choice.model }, 'unknown model name; using the default model (said once per name)');
  // The instructions ride in the message itself (StepChat takes no system prompt), so they count as prompt tokens.
  const added = [tools && tools.choice !== 'none' ? toolInstructions(tools) : '', format ? formatInstructions(format) : ''].filter(Boolean);
  const text = [buildPrompt(body.messages), ...added].join('\n\n');
  // An explicit use_search wins over the model suffix, which wins over the default.
  const search = body.use_search ?? choice.search ?? opts.searchDefault;
  const effort = body.reasoning_effort?.trim().toLowerCase();
  const reasoning = choice.reasoning === true || (!!effort && effort !== 'none');
  const stream = body.stream === true;
  // A non-stream answer is read whole: its reads go through the stages in a few batches.
  const message: OutgoingMessage = { text, attachments: [], model: choice.model, search, reasoning, gatherMs: stream ? 0 : NONSTREAM_GATHER_MS };
  return {
    message,
    stream,
    includeUsage: body.stream_options?.include_usage === true,
    meta: completionMeta(requested),
    /** Run in order over the client deltas, before usage is metered: the hook for answer filters. */
    stages,
    /** Function calling asked for: the tool sieve goes first over the answer. */
    tools,
    /** response_format asks for JSON: checked over the answer, with one corrective turn. */
    format,
    /** Tool and JSON turns run in a chat of their own: a kept chat would get the new turn without the instructions. */
    fresh: tools !== undefined || format !== undefined,
  };
}

export type CompletionPlan = ReturnType<typeof planCompletion>;

/** The last stage: meters what goes out and tells the conversation the answer once the deltas ran out on their own. */
function settleStage(turn: ConversationTurn, meter: UsageMeter): BatchStage {
  return {
    push(batch, out) {
      meter.add(batch);
      for (const delta of batch) out.push(delta);
      return false;
    },
    close(complete, outcome) {
      const natural = complete && !outcome.truncated && outcome.finishReason === 'stop';
      turn.finish(natural ? meter.answer() : undefined);
    },
  };
}

/** Starts the completion upstream and returns its client deltas with what decides finish_reason and usage. */
export function startCompletion(
  deps: CompletionDeps & { reasoningOutput: ReasoningOutput },
  creds: Credential[],
  plan: CompletionPlan,
  signal: AbortSignal,
  log: FastifyBaseLogger,
  pooled: boolean,
  turn: ConversationTurn,
  initial?: AccountLease,
): { deltas: AsyncIterable<Delta[]>; result: CompletionResult; meta: CompletionMeta } {
  const outcome = newOutcome();
  // A strict tool, a call that must come, or response_format: the answer is checked, with one
  // correction in the same chat.
  const tools = plan.tools && plan.tools.choice !== 'none' ? plan.tools : undefined;
  const mustCall = tools !== undefined && tools.choice !== 'auto';
  const checked = plan.format !== undefined || mustCall || tools?.tools.some((t) => t.strict) === true;
  const { keeping, corrector } = checked ? createCorrector(deps, creds, plan.message, signal, log, pooled) : { keeping: turn.keeping(plan.message), corrector: undefined };
  const meter = createUsageMeter(() => turn.sentText(plan.message.text) + (corrector?.sent() ?? ''));
  const events = runCompletion(deps, creds, plan.message, signal, log, pooled, keeping, initial);
  // The upstream withheld the answer (riskEvent): what came so far, then content_filter.
  const translated = translateEvents(events, new TokenCounter(), deps.reasoningOutput, () => {
    outcome.finishReason = 'content_filter';
    outcome.truncated = true;
  });
  const stages: (DeltaStage | BatchStage)[] = [];
  // The JSON stage comes last and is the one to let the kept chat go.
  if (plan.tools && plan.tools.choice !== 'none') stages.push(toolSieve(plan.tools, corrector && plan.format ? { ...corrector, dismiss: () => undefined } : corrector));
  stages.push(...plan.stages);
  if (plan.format) stages.push(jsonFormatStage(plan.format, plan.stream, corrector));
  const deltas = runStages(translated, [...stages, settleStage(turn, meter)], outcome);
  return { deltas, result: { outcome, usage: meter.usage }, meta: plan.meta };
}

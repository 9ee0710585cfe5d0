import type { FastifyBaseLogger } from 'fastify';
import type { AccountLease } from './accounts/scheduler.js';
import type { ChatCompletionRequest } from '../schemas/chat.js';
import { translateEvents, TokenCounter, type Delta, type ReasoningOutput } from './answer.js';
import { runCompletion, type ChatKeeping, type CompletionDeps } from './completion.js';
import type { ConversationTurn } from './conversations.js';
import { newOutcome, runStages, type DeltaStage } from './delta-stages.js';
import { BadRequestError } from './errors.js';
import type { ModelCatalog } from './models.js';
import { completionMeta, type CompletionMeta, type CompletionResult } from './openai-format.js';
import { buildPrompt } from './prompt.js';
import { stopStage } from './stop-sequences.js';
import { createUsageMeter, maxTokensStage } from './token-usage.js';
import { jsonFormatStage, type Corrector } from './tools/json-format.js';
import { formatOptions, toolOptions } from './tools/options.js';
import { formatCorrection, formatInstructions, toolInstructions } from './tools/prompt.js';
import { toolSieve } from './tools/sieve.js';
import type { Credential, OutgoingMessage } from './upstream/types.js';

export interface PlanOptions {
  models: ModelCatalog;
  searchDefault: boolean;
  log: FastifyBaseLogger;
}

/** The stages the request's options ask for over the answer (stop sequences, token limit). */
function optionStages(body: ChatCompletionRequest): DeltaStage[] {
  const stages: DeltaStage[] = [];
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
  const message: OutgoingMessage = { text, attachments: [], model: choice.model, search, reasoning };
  return {
    message,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    meta: completionMeta(requested),
    /** Run in order over the client deltas, before usage is metered: the hook for answer filters. */
    stages: tools && tools.choice !== 'none' ? [toolSieve(tools), ...stages] : stages,
    /** response_format asks for JSON: checked over the answer, with one corrective turn. */
    format,
    /** Tool and JSON turns run in a chat of their own: a kept chat would get the new turn without the instructions. */
    fresh: tools !== undefined || format !== undefined,
  };
}

export type CompletionPlan = ReturnType<typeof planCompletion>;

/** Tells the conversation the answer once the deltas ran out on their own. */
function settleStage(turn: ConversationTurn, answer: () => string): DeltaStage {
  return async function* settle(deltas, outcome) {
    let natural = false;
    try {
      yield* deltas;
      natural = !outcome.truncated && outcome.finishReason === 'stop';
    } finally {
      turn.finish(natural ? answer() : undefined);
    }
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
  let correction = '';
  const meter = createUsageMeter(() => turn.sentText(plan.message.text) + correction);
  let corrector: Corrector | undefined;
  let keeping: ChatKeeping = turn.keeping(plan.message);
  if (plan.format) {
    // The answer's chat is kept until the JSON is checked: a correction goes into the same chat.
    let held: { cred: Credential; chatId: string } | undefined;
    keeping = {
      release(cred, chatId, complete) {
        if (complete && !signal.aborted) held = { cred, chatId };
        else deps.discardChat(cred, chatId);
      },
    };
    corrector = {
      retry(problem) {
        const chat = held;
        held = undefined;
        if (!chat) return undefined;
        const text = formatCorrection(problem);
        correction = `\n${text}`;
        const message: OutgoingMessage = { ...plan.message, text, attachments: [] };
        delete message.prepareAttachments;
        // Should the account be unusable now, a fresh chat gets the whole prompt and the correction.
        const fallback: OutgoingMessage = { ...message, text: `${plan.message.text}\n\nuser: ${text}` };
        const again = runCompletion(deps, creds, fallback, signal, log, pooled, {
          continued: { ...chat, message },
          release: (cred, chatId) => deps.discardChat(cred, chatId),
        });
        return translateEvents(again, new TokenCounter(), deps.reasoningOutput);
      },
      dismiss() {
        if (held) deps.discardChat(held.cred, held.chatId);
        held = undefined;
      },
    };
  }
  const events = runCompletion(deps, creds, plan.message, signal, log, pooled, keeping, initial);
  // The upstream withheld the answer (riskEvent): what came so far, then content_filter.
  const translated = translateEvents(events, new TokenCounter(), deps.reasoningOutput, () => {
    outcome.finishReason = 'content_filter';
    outcome.truncated = true;
  });
  const formatStage = plan.format ? [jsonFormatStage(plan.format, plan.stream, corrector)] : [];
  const deltas = runStages(translated, [...plan.stages, ...formatStage, meter.stage, settleStage(turn, meter.answer)], outcome);
  return { deltas, result: { outcome, usage: meter.usage }, meta: plan.meta };
}

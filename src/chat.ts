import type { FastifyBaseLogger } from 'fastify';
import type { ChatCompletionRequest } from '../schemas/chat.js';
import { estimateTokens, translateEvents, TokenCounter, type Delta, type ReasoningOutput } from './answer.js';
import { runCompletion, type CompletionDeps } from './completion.js';
import type { ModelCatalog } from './models.js';
import { completionMeta, type CompletionMeta } from './openai-format.js';
import { buildPrompt } from './prompt.js';
import type { Credential, OutgoingMessage } from './upstream/types.js';

export interface PlanOptions {
  models: ModelCatalog;
  searchDefault: boolean;
  log: FastifyBaseLogger;
}

/** What a chat-completion request asks of the upstream, checked and translated. */
export function planCompletion(body: ChatCompletionRequest, opts: PlanOptions) {
  const requested = body.model?.trim() || 'step';
  const choice = opts.models.resolve(requested);
  if (choice.unknown && opts.models.firstSighting(requested)) opts.log.info({ requested, model: choice.model }, 'unknown model name; using the default model (said once per name)');
  const text = buildPrompt(body.messages);
  // An explicit use_search wins over the model suffix, which wins over the default.
  const search = body.use_search ?? choice.search ?? opts.searchDefault;
  const effort = body.reasoning_effort?.trim().toLowerCase();
  const reasoning = choice.reasoning === true || (!!effort && effort !== 'none');
  const message: OutgoingMessage = { text, attachments: [], model: choice.model, search, reasoning };
  return {
    message,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    meta: completionMeta(requested, estimateTokens(text)),
  };
}

export type CompletionPlan = ReturnType<typeof planCompletion>;

/** Starts the completion upstream and returns its client deltas with the running token count. */
export function startCompletion(
  deps: CompletionDeps & { reasoningOutput: ReasoningOutput },
  creds: Credential[],
  plan: CompletionPlan,
  signal: AbortSignal,
  log: FastifyBaseLogger,
  pooled: boolean,
): { deltas: AsyncGenerator<Delta[]>; counter: TokenCounter; meta: CompletionMeta } {
  const counter = new TokenCounter();
  const deltas = translateEvents(runCompletion(deps, creds, plan.message, signal, log, pooled), counter, deps.reasoningOutput, () => {
    plan.meta.finishReason = 'content_filter';
  });
  return { deltas, counter, meta: plan.meta };
}

import type { ChatCompletionRequest } from '../schemas/chat.js';
import { estimateTokens, translateEvents, TokenCounter, type Delta } from './answer.js';
import { runCompletion, type CompletionDeps } from './completion.js';
import { completionMeta, type CompletionMeta } from './openai-format.js';
import { buildPrompt } from './prompt.js';
import type { FastifyBaseLogger } from 'fastify';
import type { Credential, OutgoingMessage } from './upstream/types.js';

export const DEFAULT_MODEL = 'step';

/** What a chat-completion request asks of the upstream, checked and translated. */
export function planCompletion(body: ChatCompletionRequest) {
  const model = body.model?.trim() || DEFAULT_MODEL;
  const text = buildPrompt(body.messages);
  const message: OutgoingMessage = { text, attachments: [], model, search: body.use_search ?? undefined };
  return {
    message,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    meta: completionMeta(model, estimateTokens(text)),
  };
}

export type CompletionPlan = ReturnType<typeof planCompletion>;

/** Starts the completion upstream and returns its client deltas with the running token count. */
export function startCompletion(
  deps: CompletionDeps,
  creds: Credential[],
  plan: CompletionPlan,
  signal: AbortSignal,
  log: FastifyBaseLogger,
): { deltas: AsyncGenerator<Delta>; counter: TokenCounter; meta: CompletionMeta } {
  const counter = new TokenCounter();
  const deltas = translateEvents(runCompletion(deps, creds, plan.message, signal, log), counter);
  return { deltas, counter, meta: plan.meta };
}

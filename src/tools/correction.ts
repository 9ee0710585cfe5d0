import type { FastifyBaseLogger } from 'fastify';
import { translateEvents, TokenCounter, type Delta, type ReasoningOutput } from '../openai/answer.js';
import { runCompletion, type ChatKeeping, type CompletionDeps } from '../openai/completion.js';
import type { Credential, OutgoingMessage } from '../upstream/types.js';

/** Sends one corrective turn in the same upstream chat; undefined when that chat is gone or was used. */
export interface Corrector {
  retry(text: string): AsyncIterable<Delta[]> | undefined;
  /** No correction needed: the kept chat goes. */
  dismiss(): void;
  /** The correction sent, for prompt_tokens. */
  sent(): string;
}

/**
 * Keeps the answer's upstream chat once it ran to its end, until the answer is checked (a strict
 * tool's arguments, response_format's JSON), so that one correction can go into the same chat.
 */
export function createCorrector(
  deps: CompletionDeps & { reasoningOutput: ReasoningOutput },
  creds: Credential[],
  original: OutgoingMessage,
  signal: AbortSignal,
  log: FastifyBaseLogger,
  pooled: boolean,
): { keeping: ChatKeeping; corrector: Corrector } {
  let held: { cred: Credential; chatId: string } | undefined;
  let sent = '';
  const keeping: ChatKeeping = {
    release(cred, chatId, complete) {
      if (complete && !signal.aborted) held = { cred, chatId };
      else deps.discardChat(cred, chatId);
    },
  };
  const corrector: Corrector = {
    retry(text) {
      const chat = held;
      held = undefined;
      if (!chat) return undefined;
      sent = `\n${text}`;
      const message: OutgoingMessage = { ...original, text, attachments: [] };
      delete message.prepareAttachments;
      // Should the account be unusable now, a fresh chat gets the whole prompt and the correction.
      const fallback: OutgoingMessage = { ...message, text: `${original.text}\n\nuser: ${text}` };
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
    sent: () => sent,
  };
  return { keeping, corrector };
}

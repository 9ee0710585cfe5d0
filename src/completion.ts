import type { FastifyBaseLogger } from 'fastify';
import { ClientGoneError, NoUsableTokenError, TokenRejectedError, UpstreamRateLimitError } from './errors.js';
import type { TokenPool } from './token-pool.js';
import type { Credential, Dialect, OutgoingMessage, UpstreamAttachment, UpstreamEvent } from './upstream/types.js';

export interface CompletionDeps {
  pool: TokenPool;
  dialect: Dialect;
  /** Deletes an upstream chat in the background; never throws. */
  discardChat(cred: Credential, chatId: string): void;
  /** Journals a chat just created, before it is used (src/chat-janitor.ts). */
  trackChat?(cred: Credential, chatId: string): void;
  /** Told which account and upstream chat answer, once the upstream stream has started. */
  onStarted?(cred: Credential, chatId: string): void;
  /** Told when an account turned out unusable (rejected, rate-limited). */
  onAccountFailed?(cred: Credential): void;
}

/** How a completion reuses upstream chats (src/conversations.ts); without it every chat is new and deleted after. */
export interface ChatKeeping {
  /** A kept chat to continue on its own account, with the message it takes (the new turn only). */
  continued?: { cred: Credential; chatId: string; message: OutgoingMessage };
  /** The upstream stream of this chat started. */
  started?(chatId: string): void;
  /** Takes the chat over instead of it being deleted; `complete` when the upstream answer ran to its end. */
  release?(cred: Credential, chatId: string, complete: boolean): void;
}

/**
 * Runs one completion upstream and yields its events (a batch per upstream read). Picks an account (failing over to the next
 * when the upstream rejects one before anything started), creates a chat, streams the message,
 * and always has the chat deleted afterwards, whether the stream ended, failed or was abandoned.
 */
export async function* runCompletion(
  deps: CompletionDeps,
  creds: Credential[],
  flattened: OutgoingMessage,
  signal: AbortSignal,
  log: FastifyBaseLogger,
  /** The accounts are the server's pool (STEP_TOKENS): all rejected is then a 503, not the client's 401. */
  pooled = false,
  keeping: ChatKeeping = {},
): AsyncGenerator<UpstreamEvent[]> {
  const { continued } = keeping;
  const order = deps.pool.candidates(creds);
  // A continued chat lives on one account: that one first. Busy or unusable: a fresh chat elsewhere.
  const own = continued ? order.findIndex((c) => c.id === continued.cred.id) : -1;
  if (own > 0) order.unshift(...order.splice(own, 1));
  else if (continued && own === -1) keeping.release?.(continued.cred, continued.chatId, false);
  for (let i = 0; i < order.length; i++) {
    const cred = order[i]!;
    const lease = deps.pool.lease(cred);
    const resuming = i === 0 && own !== -1;
    let chatId: string | undefined = resuming ? continued!.chatId : undefined;
    const message = resuming ? continued!.message : flattened;
    let complete = false;
    let streaming = false;
    let events: AsyncIterator<UpstreamEvent[]> | undefined;
    let attachments: UpstreamAttachment[] | undefined;
    try {
      const first = await deps.pool.withSession(cred, async (session) => {
        // Files belong to the account, and uploading before the chat exists leaves none behind on failure.
        if (message.prepareAttachments) attachments ??= await message.prepareAttachments(session, signal);
        // Not aborted with the client: a chat created upstream whose id we never read would leak.
        if (chatId === undefined) {
          chatId = await deps.dialect.createChat(session);
          deps.trackChat?.(cred, chatId);
        }
        if (signal.aborted) throw new ClientGoneError();
        const outgoing = attachments ? { ...message, attachments } : message;
        events = (await deps.dialect.sendMessage(session, chatId, outgoing, signal))[Symbol.asyncIterator]();
        return events.next();
      });
      streaming = true;
      keeping.started?.(chatId!);
      deps.onStarted?.(cred, chatId!);
      log.debug({ account: cred.id, chatId, continued: resuming }, 'upstream stream started');
      for (let step = first; !step.done; step = await events!.next()) {
        if (signal.aborted) throw new ClientGoneError();
        yield step.value;
      }
      events = undefined;
      complete = true;
      return;
    } catch (err) {
      // Nothing was sent yet: another account may do.
      const accountProblem = err instanceof TokenRejectedError || err instanceof UpstreamRateLimitError;
      if (accountProblem) deps.onAccountFailed?.(cred);
      // A rejected account never answered, so even a chat already created can be left for another one.
      const retryable = chatId === undefined || (!streaming && (resuming || err instanceof TokenRejectedError));
      if (accountProblem && retryable && i < order.length - 1) {
        log.warn({ account: cred.id, code: (err as { code?: string }).code }, 'account unusable; trying the next one');
        continue;
      }
      if (pooled && err instanceof TokenRejectedError) throw new NoUsableTokenError('every configured StepChat account was rejected');
      throw err;
    } finally {
      // Abandoned by the consumer mid-stream: close the upstream response too.
      if (events?.return) await events.return().catch(() => undefined);
      lease.release();
      if (chatId !== undefined) (keeping.release ?? deps.discardChat)(cred, chatId, complete);
    }
  }
}

import type { FastifyBaseLogger } from 'fastify';
import type { AccountHealth } from '../accounts/health.js';
import type { AccountLease, Scheduler } from '../accounts/scheduler.js';
import { ClientGoneError } from '../errors.js';
import type { TokenPool } from '../accounts/token-pool.js';
import type { Credential, Dialect, OutgoingMessage, UpstreamAttachment, UpstreamEvent } from '../upstream/types.js';

export interface CompletionDeps {
  pool: TokenPool;
  scheduler: Scheduler;
  health: AccountHealth;
  /** Accounts tried at most per completion (the first included). */
  failoverAttempts: number;
  dialect: Dialect;
  /** Deletes an upstream chat in the background; never throws. */
  discardChat(cred: Credential, chatId: string): void;
  /** Journals a chat just created, before it is used (src/accounts/chat-janitor.ts). */
  trackChat?(cred: Credential, chatId: string): void;
  /** Told which account and upstream chat answer, once the upstream stream has started. */
  onStarted?(cred: Credential, chatId: string): void;
  /** Told when an account failed (rejected, rate-limited, failing) before its answer started. */
  onAccountFailed?(cred: Credential): void;
}

/** How a completion reuses upstream chats (src/openai/conversations.ts); without it every chat is new and deleted after. */
export interface ChatKeeping {
  /** A kept chat to continue on its own account, with the message it takes (the new turn only). */
  continued?: { cred: Credential; chatId: string; message: OutgoingMessage };
  /** The upstream stream of this chat started. */
  started?(chatId: string): void;
  /** Takes the chat over instead of it being deleted; `complete` when the upstream answer ran to its end. */
  release?(cred: Credential, chatId: string, complete: boolean): void;
}

/**
 * Runs one completion upstream and yields its events (a batch per upstream read). Picks an account,
 * creates a chat, streams the message, and always has the chat deleted afterwards, whether the
 * stream ended, failed or was abandoned. Until the first batch is out, any failure that is the
 * account's (rejected, rate-limited, 5xx, connection error, timeout) is recorded in its health
 * and the next account tried, up to `failoverAttempts`; after it, errors end the stream.
 */
export async function* runCompletion(
  deps: CompletionDeps,
  creds: Credential[],
  flattened: OutgoingMessage,
  signal: AbortSignal,
  log: FastifyBaseLogger,
  /** The accounts are the server's pool (STEP_TOKENS): all failed is then a 503, not the client's 401. */
  pooled = false,
  keeping: ChatKeeping = {},
  /** The account the route already waited for (a queue wait ends before the response starts). */
  initial?: AccountLease,
): AsyncGenerator<UpstreamEvent[]> {
  const { continued } = keeping;
  const tried = new Set<string>();
  let lastError: unknown;
  for (let attempt = 0; attempt < Math.max(1, deps.failoverAttempts); attempt++) {
    if (signal.aborted) {
      initial?.release();
      throw new ClientGoneError();
    }
    let lease = attempt === 0 ? initial : undefined;
    if (lease && continued && continued.cred.id !== lease.cred.id) {
      const own = await deps.scheduler.tryTake(continued.cred, { pooled });
      if (own) {
        lease.release();
        lease = own;
      }
    }
    lease ??= await deps.scheduler.acquire(creds, { exclude: tried, pooled, signal, prefer: attempt === 0 ? continued?.cred.id : undefined });
    if (!lease) break;
    const cred = lease.cred;
    tried.add(cred.id);
    // A continued chat lives on one account: that one, first. Busy or unusable: a fresh chat elsewhere.
    const resuming = attempt === 0 && continued !== undefined && continued.cred.id === cred.id;
    if (attempt === 0 && continued && !resuming) keeping.release?.(continued.cred, continued.chatId, false);
    let chatId: string | undefined = resuming ? continued.chatId : undefined;
    const message = resuming ? continued.message : flattened;
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
      deps.health.succeeded(cred.id);
      keeping.started?.(chatId!);
      deps.onStarted?.(cred, chatId!);
      log.debug({ account: cred.id, chatId, continued: resuming, attempt }, 'upstream stream started');
      for (let step = first; !step.done; step = await events!.next()) {
        if (signal.aborted) throw new ClientGoneError();
        yield step.value;
      }
      events = undefined;
      complete = true;
      return;
    } catch (err) {
      if (streaming || signal.aborted) throw err;
      const verdict = deps.health.failed(cred.id, err);
      if (!verdict) throw err;
      deps.onAccountFailed?.(cred);
      lastError = err;
      log.warn({ account: cred.id, code: verdict.code, state: verdict.state, reason: verdict.reason, attempt }, 'account failed before the answer started; trying the next one');
    } finally {
      // Abandoned by the consumer mid-stream: close the upstream response too.
      if (events?.return) await events.return().catch(() => undefined);
      lease.release();
      if (chatId !== undefined) (keeping.release ?? deps.discardChat)(cred, chatId, complete);
    }
  }
  if (lastError === undefined) throw deps.scheduler.noneUsable(creds);
  if (pooled) {
    const code = (lastError as { code?: string }).code?.replace(/^STEP_/, '').toLowerCase() ?? 'error';
    throw deps.scheduler.noneUsable(creds, `every StepChat account tried failed (last: ${code})`);
  }
  throw lastError;
}

import type { FastifyBaseLogger } from 'fastify';
import { TokenRejectedError } from '../errors.js';
import { NO_JOURNAL, type ChatJournal } from '../shared-state/chat-journal.js';
import type { TokenPool } from './token-pool.js';
import type { Drift } from '../upstream/drift.js';
import { upstreamStatus } from '../upstream/http.js';
import type { Credential, Dialect } from '../upstream/types.js';

/**
 * Deletes upstream chats in the background so the account stays clean, and remembers the ones
 * still being deleted so a shutdown can wait for them. Every chat is journaled from creation to
 * deletion, so the chats of a process that died (SIGKILL, OOM) are deleted by whoever claims them.
 */
/** When a failed deletion is tried again: after 1 s, then 5 s, then 30 s. */
const RETRY_DELAYS_MS = [1_000, 5_000, 30_000];

export function createChatJanitor(pool: TokenPool, dialect: Dialect, log: FastifyBaseLogger, journal: ChatJournal = NO_JOURNAL, drift?: Drift) {
  const pending = new Set<Promise<void>>();
  let failures = 0;
  let retried = 0;
  let recovered = 0;
  let draining = false;
  const orphanHooks: Array<(chatId: string) => Promise<unknown>> = [];
  // Deletions waiting to be tried again; a drain tries them at once, one last time.
  const sleepers = new Set<() => void>();

  function pause(ms: number): Promise<void> {
    if (draining) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });
  }

  /** Journals a chat that was just created, before anything is sent into it. */
  function track(cred: Credential, chatId: string): void {
    journal.add(cred, chatId);
  }

  /** Another replica took the chat over (a kept conversation): its journal entry is that one's now. */
  function forget(chatId: string): void {
    journal.disown(chatId);
  }

  /**
   * Deletes it; a failure that may pass (a timeout, a 5xx, a reset) is tried again after each of
   * RETRY_DELAYS_MS, so a busy moment upstream does not leave the chat on the account.
   */
  async function deleteChat(cred: Credential, chatId: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        // No signal of its own: the dispatcher's connect and header timeouts bound the call.
        await pool.withSession(cred, (s) => dialect.deleteChat(s, chatId));
        journal.remove(chatId);
        return;
      } catch (e) {
        const err = e as Error;
        failures++;
        // A rejected account can never delete it: journaling it on would retry forever.
        if (err instanceof TokenRejectedError) journal.remove(chatId);
        // A deletion endpoint that is gone (renamed upstream) would otherwise warn for every chat.
        else if (drift && upstreamStatus(err) === 404) {
          journal.remove(chatId);
          return drift.auxiliaryFailed('chat deletion', err);
        } else if (attempt < RETRY_DELAYS_MS.length && !draining) {
          retried++;
          log.debug({ account: cred.id, chatId, code: (err as { code?: string }).code, msg: err.message, retryInMs: RETRY_DELAYS_MS[attempt] }, 'could not delete upstream chat yet; trying again');
          await pause(RETRY_DELAYS_MS[attempt]!);
          continue;
        }
        log.warn({ account: cred.id, chatId, code: (err as { code?: string }).code, msg: err.message }, 'could not delete upstream chat');
        return;
      }
    }
  }

  function discardChat(cred: Credential, chatId: string): void {
    const job = deleteChat(cred, chatId).finally(() => pending.delete(job));
    pending.add(job);
  }

  /** Deletes the chats journaled by processes that are gone; returns how many were claimed. */
  async function sweep(): Promise<number> {
    const orphans = await journal.claimOrphans();
    if (orphans.length > 0) log.info({ chats: orphans.length }, 'deleting upstream chats left by a process that died');
    for (const { cred, chatId } of orphans) {
      await Promise.allSettled(orphanHooks.map((hook) => hook(chatId)));
      discardChat(cred, chatId);
    }
    recovered += orphans.length;
    return orphans.length;
  }

  /** Runs `hook` before an orphan is deleted (a kept conversation forgets it first, so nobody continues a deleted chat). */
  function onOrphan(hook: (chatId: string) => Promise<unknown>): void {
    orphanHooks.push(hook);
  }

  /** Waits for every deletion under way; those waiting to be tried again are tried at once, a last time. */
  async function drain(): Promise<void> {
    draining = true;
    for (const wake of [...sleepers]) wake();
    while (pending.size > 0) await Promise.allSettled([...pending]);
  }

  return { track, forget, discardChat, sweep, onOrphan, drain, stats: () => ({ pending: pending.size, failures, retried, recovered }) };
}

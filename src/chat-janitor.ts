import type { FastifyBaseLogger } from 'fastify';
import type { TokenPool } from './token-pool.js';
import type { Drift } from './upstream/drift.js';
import { upstreamStatus } from './upstream/http.js';
import type { Credential, Dialect } from './upstream/types.js';

/**
 * Deletes upstream chats in the background so the account stays clean, and remembers the ones
 * still being deleted so a shutdown can wait for them.
 */
export function createChatJanitor(pool: TokenPool, dialect: Dialect, log: FastifyBaseLogger, drift?: Drift) {
  const pending = new Set<Promise<void>>();
  let failures = 0;

  function discardChat(cred: Credential, chatId: string): void {
    const job = pool
      // No signal of its own: the dispatcher's connect and header timeouts bound the call.
      .withSession(cred, (s) => dialect.deleteChat(s, chatId))
      .catch((err: Error) => {
        failures++;
        // A deletion endpoint that is gone (renamed upstream) would otherwise warn for every chat.
        if (drift && upstreamStatus(err) === 404) return drift.auxiliaryFailed('chat deletion', err);
        log.warn({ account: cred.id, chatId, code: (err as { code?: string }).code, msg: err.message }, 'could not delete upstream chat');
      })
      .finally(() => pending.delete(job));
    pending.add(job);
  }

  /** Waits for every deletion under way. */
  async function drain(): Promise<void> {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  }

  return { discardChat, drain, stats: () => ({ pending: pending.size, failures }) };
}

import { ClientGoneError, NoUsableTokenError, TokensBusyError } from '../errors.js';
import type { Credential } from '../upstream/types.js';
import type { AccountHealth } from './health.js';

export interface SchedulerOptions {
  health: AccountHealth;
  /** Concurrent completions per account; 0 = unlimited. */
  maxConcurrency: number;
  /** How often dead pool accounts are re-checked: the Retry-After of a pool with none usable. */
  recheckMs: number;
  /** How long a request waits for a free account when every one is at `maxConcurrency`; 0 = no wait. */
  queueTimeoutMs: number;
}

/** One account held for one completion attempt. */
export interface AccountLease {
  cred: Credential;
  /** Gives the account back; idempotent. */
  release(): void;
}

export interface AcquireOptions {
  /** Accounts this request already tried. */
  exclude?: ReadonlySet<string>;
  /** The server's pool: an account that is not healthy is not tried (client-supplied ones are, last). */
  pooled: boolean;
  /** An account to take when it is free and healthy (a kept conversation lives on it). */
  prefer?: string;
  /** The client's request: leaving it leaves the queue. */
  signal?: AbortSignal;
}

interface Waiter {
  creds: Credential[];
  o: AcquireOptions;
  settle(lease: AccountLease | undefined, err?: Error): void;
}

/** Seconds a client should wait before retrying, at least 1. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Picks the account a completion attempt runs on: healthy ones only for the server pool, least
 * busy first with round-robin among equals, at most `maxConcurrency` completions each. When every
 * candidate is at its limit the request waits in a FIFO queue, up to `queueTimeoutMs`.
 */
export function createScheduler(opts: SchedulerOptions) {
  const { health } = opts;
  const inflight = new Map<string, number>();
  const queue: Waiter[] = [];
  let turn = 0;

  const busy = (id: string) => inflight.get(id) ?? 0;
  const free = (id: string) => opts.maxConcurrency === 0 || busy(id) < opts.maxConcurrency;

  /** The accounts worth trying, best tier only: healthy, else (client tokens only) cooling, then dead. */
  function tier(creds: Credential[], o: AcquireOptions): Credential[] {
    const open = creds.filter((c) => !o.exclude?.has(c.id));
    const usable = open.filter((c) => health.eligible(c.id));
    if (usable.length > 0 || o.pooled) return usable;
    const cooling = open.filter((c) => health.state(c.id) === 'cooling');
    return cooling.length > 0 ? cooling : open;
  }

  function pick(candidates: Credential[], prefer: string | undefined): Credential | undefined {
    const preferred = prefer === undefined ? undefined : candidates.find((c) => c.id === prefer && free(c.id));
    if (preferred) return preferred;
    const start = turn++ % Math.max(candidates.length, 1);
    let best: Credential | undefined;
    let bestRank = Infinity;
    candidates.forEach((c, i) => {
      if (!free(c.id)) return;
      const rank = busy(c.id) * candidates.length + ((i - start + candidates.length) % candidates.length);
      if (rank < bestRank) {
        best = c;
        bestRank = rank;
      }
    });
    return best;
  }

  function lease(cred: Credential): AccountLease {
    inflight.set(cred.id, busy(cred.id) + 1);
    health.used(cred.id, cred.deviceId);
    let released = false;
    return {
      cred,
      release() {
        if (released) return;
        released = true;
        const n = busy(cred.id) - 1;
        if (n > 0) inflight.set(cred.id, n);
        else inflight.delete(cred.id);
        serveQueue();
      },
    };
  }

  /** The error for a pool with no healthy account left: 503 with when to come back. */
  function noneUsable(creds: Credential[]): Error & { retryAfter: number } {
    const wait = health.nextRecovery(creds.map((c) => c.id)) ?? opts.recheckMs;
    return Object.assign(new NoUsableTokenError('no configured StepChat account is healthy now'), { retryAfter: seconds(wait) });
  }

  /** The lease for this request now, undefined when it must wait; throws when nothing is left to try. */
  function attempt(creds: Credential[], o: AcquireOptions): AccountLease | undefined | 'exhausted' {
    const candidates = tier(creds, o);
    if (candidates.length === 0) {
      if ((o.exclude?.size ?? 0) > 0 && (o.pooled || creds.every((c) => o.exclude!.has(c.id)))) return 'exhausted';
      throw noneUsable(creds);
    }
    const cred = pick(candidates, o.prefer);
    return cred ? lease(cred) : undefined;
  }

  /** Hands freed accounts to the waiters, oldest first. */
  function serveQueue(): void {
    for (let i = 0; i < queue.length; ) {
      const w = queue[i]!;
      let got: ReturnType<typeof attempt>;
      try {
        got = attempt(w.creds, w.o);
      } catch (err) {
        queue.splice(i, 1);
        w.settle(undefined, err as Error);
        continue;
      }
      if (got === undefined) {
        i++;
        continue;
      }
      queue.splice(i, 1);
      w.settle(got === 'exhausted' ? undefined : got);
    }
  }

  /**
   * An account for the next attempt; undefined when every candidate was tried already. Throws a
   * 503 when the pool has none healthy, a 429 when every usable one stayed at its limit for the
   * whole queue wait.
   */
  async function acquire(creds: Credential[], o: AcquireOptions): Promise<AccountLease | undefined> {
    if (o.signal?.aborted) throw new ClientGoneError();
    const now = attempt(creds, o);
    if (now === 'exhausted') return undefined;
    // Every release serves the queue at once, so an account free here is one no waiter can take: FIFO holds.
    if (now) return now;
    if (opts.queueTimeoutMs === 0) throw busyError();
    return new Promise<AccountLease | undefined>((resolve, reject) => {
      const timer = setTimeout(() => leave(busyError()), opts.queueTimeoutMs);
      const onAbort = () => leave(new ClientGoneError());
      const waiter: Waiter = {
        creds,
        o,
        settle(lease, err) {
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(lease);
        },
      };
      function leave(err: Error): void {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        waiter.settle(undefined, err);
      }
      o.signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  function busyError(): Error {
    return Object.assign(new TokensBusyError(), { retryAfter: seconds(Math.min(opts.queueTimeoutMs, 5000) || 1000) });
  }

  /** The account itself, now, if it is free (and healthy, for the pool): a kept conversation's own. */
  function tryTake(cred: Credential, o: AcquireOptions): AccountLease | undefined {
    if (o.pooled && !health.eligible(cred.id)) return undefined;
    return free(cred.id) ? lease(cred) : undefined;
  }

  return {
    acquire,
    tryTake,
    noneUsable,
    inflight: (id: string) => busy(id),
    /** Requests waiting for an account, all of them or those that could take this one. */
    queued: (id?: string) => (id === undefined ? queue.length : queue.filter((w) => w.creds.some((c) => c.id === id)).length),
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;

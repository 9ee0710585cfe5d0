import { ClientGoneError, NoUsableTokenError, TokensBusyError } from '../errors.js';
import type { SlotShare } from '../shared-state/slot-share.js';
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
  /** Slots counted across replicas (REDIS_URL, with a limit); without it the count is this process's. */
  slots?: SlotShare;
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

/** How often waiters try again for a slot another replica may have freed (a release is also announced). */
const RETRY_MS = 200;

/** Seconds a client should wait before retrying, at least 1. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Picks the account a completion attempt runs on: healthy ones only for the server pool, least
 * busy first with round-robin among equals, at most `maxConcurrency` completions each. When every
 * candidate is at its limit the request waits in a FIFO queue, up to `queueTimeoutMs`. With
 * `slots` the limit counts every replica's completions: a slot is taken in Redis as well, and the
 * queue is served asynchronously, on local releases, announced remote ones and a short retry.
 */
export function createScheduler(opts: SchedulerOptions) {
  const { health, slots } = opts;
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

  /** How good a candidate is (lower is better): the preferred one, then least busy with round-robin among equals. Distinct per candidate. */
  function ranker(candidates: Credential[], prefer: string | undefined): (c: Credential, i: number) => number {
    const preferred = candidates.some((c) => c.id === prefer && free(c.id));
    // The round-robin turn moves on only when the preferred account is not the one taken.
    const start = (preferred ? turn : turn++) % Math.max(candidates.length, 1);
    return (c, i) => (c.id === prefer ? -1 : busy(c.id) * candidates.length + ((i - start + candidates.length) % candidates.length));
  }

  /** The free candidates, best first. */
  function ranked(candidates: Credential[], prefer: string | undefined): Credential[] {
    const rank = ranker(candidates, prefer);
    return candidates
      .map((c, i) => ({ c, r: rank(c, i) }))
      .filter(({ c }) => free(c.id))
      .sort((a, b) => a.r - b.r)
      .map(({ c }) => c);
  }

  /** What `ranked` puts first, in one pass: sorting a pool of 10,000 accounts per request cost more than the completion. */
  function pick(candidates: Credential[], prefer: string | undefined): Credential | undefined {
    const rank = ranker(candidates, prefer);
    let best: Credential | undefined;
    let least = Infinity;
    candidates.forEach((c, i) => {
      if (!free(c.id)) return;
      const r = rank(c, i);
      if (r < least) [best, least] = [c, r];
    });
    return best;
  }

  function lease(cred: Credential, holder?: string): AccountLease {
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
        if (slots && holder !== undefined) void slots.release(cred.id, holder).finally(serveQueue);
        else serveQueue();
      },
    };
  }

  /** The error for a pool with no healthy account left: 503 with when to come back and why. */
  function noneUsable(creds: Credential[], lead = 'no configured StepChat account is healthy now'): Error & { retryAfter: number } {
    const ids = creds.map((c) => c.id);
    const wait = health.nextRecovery(ids) ?? opts.recheckMs;
    const why = health.whyUnusable(ids);
    return Object.assign(new NoUsableTokenError(`${lead}${why ? `: ${why}` : ''}`), { retryAfter: seconds(wait) });
  }

  /** The lease for this request now, undefined when it must wait; throws when nothing is left to try. */
  function attempt(creds: Credential[], o: AcquireOptions, holder?: (id: string) => string): AccountLease | undefined | 'exhausted' {
    const candidates = usable(creds, o);
    if (candidates === 'exhausted') return candidates;
    const cred = pick(candidates, o.prefer);
    return cred ? lease(cred, holder?.(cred.id)) : undefined;
  }

  /** The tier to pick from; 'exhausted' when every candidate was tried; throws when the pool has none healthy. */
  function usable(creds: Credential[], o: AcquireOptions): Credential[] | 'exhausted' {
    const candidates = tier(creds, o);
    if (candidates.length > 0) return candidates;
    if ((o.exclude?.size ?? 0) > 0 && (o.pooled || creds.every((c) => o.exclude!.has(c.id)))) return 'exhausted';
    throw noneUsable(creds);
  }

  /**
   * `attempt` with the slot taken in Redis: the best free account with a slot left on every
   * replica. `full` collects accounts found full in this pass, so later waiters skip them.
   */
  async function attemptShared(share: SlotShare, creds: Credential[], o: AcquireOptions, full = new Set<string>()): Promise<AccountLease | undefined | 'exhausted'> {
    const syncing = health.sync(creds.map((c) => c.id));
    if (syncing) await syncing;
    const candidates = usable(creds, o);
    if (candidates === 'exhausted') return candidates;
    const order = ranked(candidates, o.prefer).filter((c) => !full.has(c.id));
    if (order.length === 0) return undefined;
    const got = await share.take(order.map((c) => c.id), opts.maxConcurrency);
    if (got === 'local') return attempt(creds, o, (id) => share.adopt(id));
    if (got === 'full') {
      for (const c of order) full.add(c.id);
      return undefined;
    }
    return lease(order[got.index]!, got.holder);
  }

  let pumping = false;
  let again = false;
  let retry: NodeJS.Timeout | undefined;

  /** The queue served through Redis: one pass at a time, oldest first, again while something changed. */
  function pump(share: SlotShare): void {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    void (async () => {
      do {
        again = false;
        const full = new Set<string>();
        for (const w of [...queue]) {
          if (!queue.includes(w)) continue;
          let got: Awaited<ReturnType<typeof attemptShared>>;
          try {
            got = await attemptShared(share, w.creds, w.o, full);
          } catch (err) {
            if (dequeue(w)) w.settle(undefined, err as Error);
            continue;
          }
          if (got === undefined) continue;
          // Left (timed out, client gone) while its slot was being taken: the slot goes back.
          if (!dequeue(w)) {
            if (got !== 'exhausted') got.release();
            continue;
          }
          w.settle(got === 'exhausted' ? undefined : got);
        }
      } while (again);
    })().finally(() => {
      pumping = false;
      // Slots freed by a lease that expired (a crashed replica) are announced by nobody.
      if (queue.length > 0 && !retry) {
        retry = setTimeout(() => {
          retry = undefined;
          pump(share);
        }, RETRY_MS);
        retry.unref();
      }
    });
  }

  function dequeue(w: Waiter): boolean {
    const i = queue.indexOf(w);
    if (i >= 0) queue.splice(i, 1);
    return i >= 0;
  }

  /** Hands freed accounts to the waiters, oldest first. */
  function serveQueue(): void {
    if (slots) return pump(slots);
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
    if (slots) return acquireShared(slots, creds, o);
    const syncing = health.sync(creds.map((c) => c.id));
    if (syncing) await syncing;
    const now = attempt(creds, o);
    if (now === 'exhausted') return undefined;
    // Every release serves the queue at once, so an account free here is one no waiter can take: FIFO holds.
    if (now) return now;
    if (opts.queueTimeoutMs === 0) throw busyError();
    return wait(creds, o);
  }

  /** `acquire` with slots in Redis; waiters here go first, so a newcomer never passes them. */
  async function acquireShared(share: SlotShare, creds: Credential[], o: AcquireOptions): Promise<AccountLease | undefined> {
    if (queue.length === 0) {
      const now = await attemptShared(share, creds, o);
      if (now === 'exhausted') return undefined;
      if (now && o.signal?.aborted) {
        now.release();
        throw new ClientGoneError();
      }
      if (now) return now;
    }
    if (opts.queueTimeoutMs === 0) throw busyError();
    const waiting = wait(creds, o);
    pump(share);
    return waiting;
  }

  function wait(creds: Credential[], o: AcquireOptions): Promise<AccountLease | undefined> {
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
        dequeue(waiter);
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
  async function tryTake(cred: Credential, o: AcquireOptions): Promise<AccountLease | undefined> {
    const syncing = health.sync([cred.id]);
    if (syncing) await syncing;
    if ((o.pooled && !health.eligible(cred.id)) || !free(cred.id)) return undefined;
    if (!slots) return lease(cred);
    const got = await slots.take([cred.id], opts.maxConcurrency);
    if (got === 'full') return undefined;
    if (got === 'local') return free(cred.id) ? lease(cred, slots.adopt(cred.id)) : undefined;
    return lease(cred, got.holder);
  }

  slots?.onFreed(() => pump(slots));

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

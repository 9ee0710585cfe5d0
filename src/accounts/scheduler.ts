import { NoUsableTokenError, TokensBusyError } from '../errors.js';
import type { Credential } from '../upstream/types.js';
import type { AccountHealth } from './health.js';

export interface SchedulerOptions {
  health: AccountHealth;
  /** Concurrent completions per account; 0 = unlimited. */
  maxConcurrency: number;
  /** How often dead pool accounts are re-checked: the Retry-After of a pool with none usable. */
  recheckMs: number;
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
}

/** Seconds a client should wait before retrying, at least 1. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Picks the account a completion attempt runs on: healthy ones only for the server pool, least
 * busy first with round-robin among equals, at most `maxConcurrency` completions each.
 */
export function createScheduler(opts: SchedulerOptions) {
  const { health } = opts;
  const inflight = new Map<string, number>();
  let turn = 0;

  const busy = (id: string) => inflight.get(id) ?? 0;
  const free = (id: string) => opts.maxConcurrency === 0 || busy(id) < opts.maxConcurrency;

  /** The accounts worth trying, best tier only: healthy, else (client tokens only) cooling, then dead. */
  function tier(creds: Credential[], o: AcquireOptions): Credential[] {
    const open = creds.filter((c) => !o.exclude?.has(c.id));
    const healthy = open.filter((c) => health.state(c.id) === 'healthy');
    if (healthy.length > 0 || o.pooled) return healthy;
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
      },
    };
  }

  /** The error for a pool with no healthy account left: 503 with when to come back. */
  function noneUsable(creds: Credential[]): Error & { retryAfter: number } {
    const wait = health.nextRecovery(creds.map((c) => c.id)) ?? opts.recheckMs;
    return Object.assign(new NoUsableTokenError('no configured StepChat account is healthy now'), { retryAfter: seconds(wait) });
  }

  /**
   * An account for the next attempt; undefined when every candidate was tried already. Throws a
   * 503 when the pool has none healthy, a 429 when every usable one is at its limit.
   */
  async function acquire(creds: Credential[], o: AcquireOptions): Promise<AccountLease | undefined> {
    const candidates = tier(creds, o);
    if (candidates.length === 0) {
      if (o.exclude && creds.every((c) => o.exclude!.has(c.id))) return undefined;
      if (o.pooled && (o.exclude?.size ?? 0) > 0) return undefined;
      throw noneUsable(creds);
    }
    const cred = pick(candidates, o.prefer);
    if (!cred) throw new TokensBusyError();
    return lease(cred);
  }

  return { acquire, noneUsable, inflight: (id: string) => busy(id) };
}

export type Scheduler = ReturnType<typeof createScheduler>;

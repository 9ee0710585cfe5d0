import { createHealthSync, type HealthShare, type SharedHealth } from './health-sync.js';

/** How an account stands: in service, resting after a transient failure, or refused by the upstream. */
export type AccountState = 'healthy' | 'cooling' | 'dead';

/** What a failure says about the account it happened on; undefined: the request's fault, not the account's. */
export interface AccountVerdict {
  state: 'cooling' | 'dead';
  reason: string;
  code: string;
}

// Connect codes and HTTP statuses that blame the request (bad argument, unknown model), not the account.
const REQUEST_CODES = new Set(['invalid_argument', 'failed_precondition', 'not_found', 'out_of_range', 'unimplemented', 'already_exists']);
const REQUEST_STATUSES = new Set([400, 404, 405, 409, 413, 415, 422]);

/**
 * Classifies an upstream failure: `dead` when the upstream refused the account (rejected, guest
 * token, signed out), `cooling` when it failed for a while (rate limit, 5xx, connection error,
 * timeout), undefined when the request itself is at fault or the client left.
 */
export function classifyFailure(err: unknown): AccountVerdict | undefined {
  const e = err as { code?: string; message?: string; upstreamStatus?: number; upstreamCode?: string };
  const code = typeof e?.code === 'string' ? e.code : 'unknown';
  switch (code) {
    case 'STEP_TOKEN_REJECTED':
      return { state: 'dead', code, reason: /guest/i.test(e.message ?? '') ? 'guest token' : /sign.?in/i.test(e.message ?? '') ? 'sign-in needed' : 'rejected' };
    case 'STEP_UPSTREAM_RATE_LIMITED':
      return { state: 'cooling', code, reason: 'rate-limited' };
    case 'STEP_UPSTREAM_TIMEOUT':
      return { state: 'cooling', code, reason: 'timeout' };
    case 'STEP_UPSTREAM': {
      if ((e.upstreamCode && REQUEST_CODES.has(e.upstreamCode)) || (e.upstreamStatus && REQUEST_STATUSES.has(e.upstreamStatus))) return undefined;
      const reason = e.upstreamStatus ? `upstream ${e.upstreamStatus}` : e.upstreamCode ? `upstream ${e.upstreamCode}` : 'connection error';
      return { state: 'cooling', code, reason };
    }
    default:
      return undefined;
  }
}

export interface HealthOptions {
  /** First cool-down; each further failure in a row doubles it. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Accounts remembered at most (client-supplied tokens come and go); the least recently used go first. */
  maxEntries?: number;
  now?: () => number;
  /** Shared with other replicas (REDIS_URL); read again when older than `shareTtlMs` (default 1 s). */
  share?: HealthShare;
  shareTtlMs?: number;
}

interface Health {
  state: AccountState;
  reason?: string;
  /** Cooling: back in service from then on. */
  until: number;
  /** Failures in a row, which set the next back-off. */
  streak: number;
  successes: number;
  failures: number;
  lastErrorCode?: string;
  lastUsed?: number;
  /** Masked label for status pages. */
  label: string;
}

/** What the admin page shows of one account; no secret. */
export interface AccountHealthView {
  id: string;
  label: string;
  state: AccountState;
  reason: string | null;
  coolingUntil: string | null;
  successes: number;
  failures: number;
  lastErrorCode: string | null;
  lastUsed: string | null;
}

/** The device-id prefix, enough for an operator to tell accounts apart. */
export function maskedLabel(deviceId: string): string {
  return deviceId.length <= 6 ? '…' : `${deviceId.slice(0, 6)}…`;
}

/**
 * Health per account: healthy until a failure says otherwise; cooling with exponential back-off
 * (1 s doubling to 5 min by default) after transient failures, tried again by the next request
 * once the back-off has passed and healthy after a success; dead after a rejection until a
 * re-check or a success revives it.
 */
export function createAccountHealth(opts: HealthOptions = {}) {
  const now = opts.now ?? Date.now;
  const minBackoff = opts.minBackoffMs ?? 1000;
  const maxBackoff = opts.maxBackoffMs ?? 300_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const accounts = new Map<string, Health>();

  function get(id: string, deviceId = ''): Health {
    let h = accounts.get(id);
    if (!h) {
      if (accounts.size >= maxEntries) {
        const oldest = accounts.keys().next().value;
        if (oldest !== undefined) accounts.delete(oldest);
      }
      h = { state: 'healthy', until: 0, streak: 0, successes: 0, failures: 0, label: maskedLabel(deviceId) };
      accounts.set(id, h);
    }
    return h;
  }

  /** The account's state: a cooling account stays cooling until it succeeds again. */
  function state(id: string): AccountState {
    return accounts.get(id)?.state ?? 'healthy';
  }

  /** Whether requests may use it: healthy, or cooling with its back-off over (the next request tries it). */
  function eligible(id: string): boolean {
    const h = accounts.get(id);
    return !h || h.state === 'healthy' || (h.state === 'cooling' && h.until <= now());
  }

  function used(id: string, deviceId: string): void {
    const h = get(id, deviceId);
    // Known first from another replica's verdict, without its device id.
    if (h.label === maskedLabel('')) h.label = maskedLabel(deviceId);
    h.lastUsed = now();
    // Recently used last in iteration order, so eviction drops the idle ones.
    accounts.delete(id);
    accounts.set(id, h);
  }

  function restore(h: Health): void {
    h.state = 'healthy';
    h.reason = undefined;
    h.streak = 0;
    h.until = 0;
  }

  const shareable = (h: Health): SharedHealth | undefined =>
    h.state === 'healthy' ? undefined : { state: h.state, until: h.until, streak: h.streak, reason: h.reason, code: h.lastErrorCode };
  const sharing = opts.share
    ? createHealthSync({
        share: opts.share,
        ttlMs: opts.shareTtlMs ?? 1000,
        maxEntries,
        now,
        apply,
        unhealthy: () => [...accounts].flatMap(([id, h]) => (h.state === 'healthy' ? [] : [[id, shareable(h)!] as [string, SharedHealth]])),
      })
    : undefined;
  const shared = (id: string, h: Health) => sharing?.changed(id, shareable(h));

  /** Another replica's view of the account replaces this one's (counters and label stay this replica's). */
  function apply(id: string, s: SharedHealth | null): void {
    if (!s && !accounts.has(id)) return;
    const h = get(id);
    if (!s) {
      if (h.state !== 'healthy') restore(h);
      return;
    }
    h.state = s.state;
    h.until = s.until;
    h.streak = s.streak;
    h.reason = s.reason;
    if (s.code) h.lastErrorCode = s.code;
  }

  function succeeded(id: string): void {
    const h = get(id);
    h.successes++;
    const was = h.state;
    restore(h);
    if (was !== 'healthy') shared(id, h);
  }

  /** Records a failure; returns the verdict, or undefined when the account is not to blame. */
  function failed(id: string, err: unknown): AccountVerdict | undefined {
    const verdict = classifyFailure(err);
    if (!verdict) return undefined;
    const h = get(id);
    h.failures++;
    h.lastErrorCode = verdict.code.replace(/^STEP_/, '').toLowerCase();
    h.reason = verdict.reason;
    if (verdict.state === 'dead') {
      h.state = 'dead';
      h.until = 0;
    } else {
      h.streak++;
      h.state = 'cooling';
      h.until = now() + Math.min(maxBackoff, minBackoff * 2 ** Math.min(h.streak - 1, 30));
    }
    shared(id, h);
    return verdict;
  }

  /** A re-check found the account working again. */
  function revived(id: string): void {
    const h = get(id);
    const was = h.state;
    restore(h);
    if (was !== 'healthy') shared(id, h);
  }

  /** When the earliest cooling account among these is back, in ms from now (undefined: none cooling). */
  function nextRecovery(ids: string[]): number | undefined {
    let best: number | undefined;
    for (const id of ids) {
      const h = accounts.get(id);
      if (h?.state !== 'cooling' || h.until <= now()) continue;
      const wait = h.until - now();
      if (best === undefined || wait < best) best = wait;
    }
    return best;
  }

  function view(id: string): AccountHealthView {
    const h = get(id);
    const s = state(id);
    const iso = (t: number | undefined) => (t ? new Date(t).toISOString() : null);
    return {
      id,
      label: h.label,
      state: s,
      reason: s === 'healthy' ? null : (h.reason ?? null),
      coolingUntil: s === 'cooling' ? iso(h.until) : null,
      successes: h.successes,
      failures: h.failures,
      lastErrorCode: h.lastErrorCode ?? null,
      lastUsed: iso(h.lastUsed),
    };
  }

  /**
   * Why none of these accounts can serve, for the operator reading the 503: how many need a new
   * token (signed out, rejected, guest) and how many are cooling down. Empty when all are healthy.
   */
  function whyUnusable(ids: string[]): string {
    let dead = 0;
    let cooling = 0;
    for (const id of ids) {
      const s = state(id);
      if (s === 'dead') dead++;
      else if (s === 'cooling') cooling++;
    }
    const parts: string[] = [];
    if (dead > 0) parts.push(`${dead} signed out or rejected by StepChat (${dead === 1 ? 'its token needs' : 'their tokens need'} replacing: sign in again and copy a new token, see the README's "Getting your token")`);
    if (cooling > 0) parts.push(`${cooling} cooling down after upstream errors`);
    return parts.join('; ');
  }

  /** Reads the shared health of these accounts when stale; undefined (nothing to wait for) alone or when fresh. */
  const sync = (ids: string[]): Promise<void> | undefined => sharing?.sync(ids);

  return { state, eligible, used, succeeded, failed, revived, nextRecovery, whyUnusable, view, sync, register: (id: string, deviceId: string) => void get(id, deviceId) };
}

export type AccountHealth = ReturnType<typeof createAccountHealth>;

/** What replicas share of an account that is not healthy (src/shared-state/health-share.ts). */
export interface SharedHealth {
  state: 'cooling' | 'dead';
  until: number;
  streak: number;
  reason?: string;
  code?: string;
}

/** How replicas share account health: a change made here is published, the others' read when selecting. */
export interface HealthShare {
  /** Publishes this replica's change (undefined: healthy again); never throws. */
  put(id: string, h: SharedHealth | undefined): void;
  /** The shared health of these accounts (null: healthy); undefined when it cannot be read. */
  load(ids: string[]): Promise<Array<SharedHealth | null> | undefined>;
  /** Called with another replica's change as it happens. */
  onChange(fn: (id: string, h: SharedHealth | null) => void): void;
  /** Called when shared state may have been lost (Redis back after an outage): what to write again. */
  onResync(fn: () => Array<[string, SharedHealth]>): void;
}

export interface HealthSyncOptions {
  share: HealthShare;
  /** How long what was read stays fresh. */
  ttlMs: number;
  maxEntries: number;
  now: () => number;
  /** Puts another replica's view of an account in place of this one's. */
  apply(id: string, h: SharedHealth | null): void;
  /** The accounts this replica holds unhealthy, to write again after an outage. */
  unhealthy(): Array<[string, SharedHealth]>;
}

/**
 * Keeps the account health (src/accounts/health.ts) in step with the other replicas: publishes
 * this replica's changes, applies theirs as they are announced, and reads again what was not read
 * for `ttlMs` when an account is about to be selected.
 */
export function createHealthSync(opts: HealthSyncOptions) {
  const { share, now } = opts;
  /** Per account: when its shared health is to be read again, and which local change it last saw. */
  const synced = new Map<string, { until: number; change: number }>();
  const loading = new Map<string, Promise<void>>();
  let changes = 0;

  function seen(id: string): { until: number; change: number } {
    let s = synced.get(id);
    if (!s) {
      if (synced.size >= opts.maxEntries) synced.delete(synced.keys().next().value!);
      s = { until: -Infinity, change: 0 };
      synced.set(id, s);
    }
    return s;
  }

  share.onChange((id, h) => {
    opts.apply(id, h);
    seen(id).until = now() + opts.ttlMs;
  });
  share.onResync(opts.unhealthy);

  return {
    /** This replica changed the account's health (undefined: healthy again). */
    changed(id: string, h: SharedHealth | undefined): void {
      seen(id).change = ++changes;
      share.put(id, h);
    },
    /** Reads the stale ones of these accounts; undefined when there is nothing to wait for, so the caller stays synchronous. */
    sync(ids: string[]): Promise<void> | undefined {
      const t = now();
      const waits = new Set<Promise<void>>();
      const stale: string[] = [];
      for (const id of ids) {
        const pending = loading.get(id);
        if (pending) waits.add(pending);
        else if ((synced.get(id)?.until ?? -Infinity) <= t) stale.push(id);
      }
      if (stale.length > 0) {
        const since = changes;
        const job = share
          .load(stale)
          .then((rows) => {
            stale.forEach((id, i) => {
              const s = seen(id);
              // A change made here while the read was on its way is newer than what it read.
              if (rows && s.change <= since) opts.apply(id, rows[i] ?? null);
              s.until = now() + opts.ttlMs;
            });
          })
          .finally(() => {
            for (const id of stale) loading.delete(id);
          });
        for (const id of stale) loading.set(id, job);
        waits.add(job);
      }
      return waits.size === 0 ? undefined : Promise.all(waits).then(() => undefined);
    },
  };
}

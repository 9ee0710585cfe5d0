import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';

export interface SharedRedisOptions {
  url: string;
  /** Put before every key, so several deployments may share one Redis. */
  prefix: string;
  log: FastifyBaseLogger;
}

/**
 * The connection the replicas share state through (ioredis). Commands fail at once while Redis
 * is unreachable instead of queueing, so callers fall back to their local state; losing and
 * regaining the connection is logged once each, and `onResync` callbacks run when it returns.
 */
export function createSharedRedis(opts: SharedRedisOptions) {
  const client = new Redis(opts.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    connectTimeout: 2000,
    // Keep trying for as long as the service runs, never faster than every 2 s.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  const resyncs: Array<() => Promise<void>> = [];
  const handlers = new Map<string, (message: string) => void>();
  // Pub/sub needs a connection of its own; opened by the first subscriber.
  let sub: Redis | undefined;
  let up = false;
  let everUp = false;
  let errors = 0;
  let closing = false;

  client.on('ready', () => {
    const back = everUp;
    up = true;
    everUp = true;
    opts.log.info({ redis: redacted(opts.url) }, back ? 'Redis is back: sharing state with the other replicas again' : 'connected to Redis');
    if (back) for (const fn of resyncs) fn().catch((err: Error) => opts.log.warn({ msg: err.message }, 'could not resync state to Redis'));
  });
  client.on('error', () => {
    errors++;
  });
  client.on('close', () => {
    if (!up || closing) return;
    up = false;
    opts.log.warn({ redis: redacted(opts.url) }, 'Redis is unreachable: working on local state until it returns');
  });

  return {
    client,
    /** This process among the replicas (journal owner, lock holder). */
    replicaId: randomUUID(),
    key: (...parts: string[]) => `${opts.prefix}${parts.join(':')}`,
    get up() {
      return up;
    },
    /** A Redis command failed (unreachable, timed out); the caller went on with local state. */
    failed(): void {
      errors++;
    },
    stats: () => ({ up, errors }),
    /** Calls `fn` with each message on `channel` (prefixed); lost while Redis is unreachable, so callers also poll. */
    subscribe(channel: string, fn: (message: string) => void): void {
      handlers.set(`${opts.prefix}${channel}`, fn);
      if (!sub) {
        const s = client.duplicate({ lazyConnect: true });
        sub = s;
        s.on('message', (ch: string, message: string) => handlers.get(ch)?.(message));
        s.on('error', () => undefined);
        // Again at every (re)connection: a subscription asked for while Redis was down never happened.
        s.on('ready', () => void s.subscribe(...handlers.keys()).catch(() => undefined));
        if (!closing) void s.connect().catch(() => undefined);
      } else if (sub.status === 'ready') void sub.subscribe(`${opts.prefix}${channel}`).catch(() => undefined);
    },
    /** The channel name `subscribe` listens on, for PUBLISH inside scripts. */
    channel: (name: string) => `${opts.prefix}${name}`,
    onResync(fn: () => Promise<void>): void {
      resyncs.push(fn);
    },
    /** Connects; a Redis that is down at start is not fatal (the service starts degraded). */
    async connect(): Promise<void> {
      await client.connect().catch((err: Error) => {
        opts.log.warn({ redis: redacted(opts.url), msg: err.message }, 'Redis is unreachable at start: working on local state until it answers');
        everUp = true;
      });
    },
    async close(): Promise<void> {
      closing = true;
      sub?.disconnect();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/** The URL without its password, for logs. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis';
  }
}

export type SharedRedis = ReturnType<typeof createSharedRedis>;

import { ShuttingDownError } from '../errors.js';

/**
 * Ends a stream of values with ShuttingDownError when `signal` fires (the shutdown grace ran out),
 * after closing the source, so its upstream chat is let go before the error reaches the client.
 * The abort rejects the one step being waited for: racing every step against one long-lived
 * promise would leave a reaction on it per batch, all kept until the stream ends.
 */
export async function* endOnShutdown<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let fail: ((err: Error) => void) | undefined;
  const onAbort = () => fail?.(new ShuttingDownError());
  signal.addEventListener('abort', onAbort, { once: true });
  let finished = false;
  try {
    for (;;) {
      if (signal.aborted) throw new ShuttingDownError();
      const step = await new Promise<IteratorResult<T>>((resolve, reject) => {
        fail = reject;
        it.next().then(resolve, reject);
      });
      fail = undefined;
      if (step.done) {
        finished = true;
        return;
      }
      yield step.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (!finished) await it.return?.(undefined).catch(() => undefined);
  }
}

/** Counts the requests in progress so a shutdown can wait for them. */
export function createInflight() {
  let active = 0;
  let waiters: Array<() => void> = [];
  return {
    start(): () => void {
      active++;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        active--;
        if (active === 0) {
          for (const w of waiters) w();
          waiters = [];
        }
      };
    },
    get active(): number {
      return active;
    },
    /** Resolves when none is in progress, or after `ms` (true when they all ended). */
    idle(ms: number): Promise<boolean> {
      if (active === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        waiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
  };
}

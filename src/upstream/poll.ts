import { setTimeout as sleep } from 'node:timers/promises';
import { ClientGoneError } from '../errors.js';
import type { FilePollOptions } from './types.js';

const GROWTH = 1.5;

/** The wait before poll number `attempt` (0-based): `initialMs`, growing 1.5× per poll up to `maxMs`. */
export function pollDelay(attempt: number, opts: Pick<FilePollOptions, 'initialMs' | 'maxMs'>): number {
  return Math.round(Math.min(opts.initialMs * GROWTH ** attempt, Math.max(opts.maxMs, opts.initialMs)));
}

/**
 * Calls `check` on the backoff schedule of {@link pollDelay} until it returns a value. The last
 * poll lands on the deadline rather than past it; after it, `onDeadline()` is thrown.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  opts: FilePollOptions,
  signal: AbortSignal,
  onDeadline: () => Error,
): Promise<T> {
  const deadline = Date.now() + opts.deadlineMs;
  for (let attempt = 0; ; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0) throw onDeadline();
    try {
      await sleep(Math.min(pollDelay(attempt, opts), left), undefined, { signal });
    } catch {
      throw new ClientGoneError();
    }
    const result = await check();
    if (result !== undefined) return result;
  }
}

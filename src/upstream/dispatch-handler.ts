import type { Dispatcher } from 'undici';

/** A call that was still not over at its total deadline (however steadily bytes kept coming). */
export class DeadlineError extends Error {
  constructor(readonly ms: number) {
    super(`no complete answer within ${ms} ms`);
  }
}

/**
 * What the upstream client's dispatch handlers share: the request's controller, aborted when the
 * client's signal fires (also when it fired before the request started), or with a DeadlineError
 * when `deadlineMs` (0 = none) pass before the call is over.
 */
export abstract class SignalledHandler implements Dispatcher.DispatchHandler {
  protected controller: Dispatcher.DispatchController | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private expired: DeadlineError | undefined;

  constructor(
    protected readonly signal?: AbortSignal,
    deadlineMs = 0,
  ) {
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (deadlineMs > 0) {
      this.timer = setTimeout(() => {
        this.expired = new DeadlineError(deadlineMs);
        this.controller?.abort(this.expired);
      }, deadlineMs);
      this.timer.unref();
    }
  }

  private readonly onAbort = (): void => {
    this.controller?.abort(this.signal?.reason ?? new Error('aborted'));
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal?.aborted) this.onAbort();
    else if (this.expired) controller.abort(this.expired);
  }

  /** The request is over: stop listening to the signal, drop the deadline. */
  protected detach(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    clearTimeout(this.timer);
  }
}

/** A reply body's chunks, kept up to `max` bytes. */
export class BodyBuffer {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;

  constructor(readonly max: number) {}

  /** Keeps the chunk; false (and the chunk dropped) once the body is past `max`. */
  push(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.bytes > this.max) return false;
    this.chunks.push(chunk);
    return true;
  }

  text(): string {
    return (this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)).toString('utf8');
  }
}

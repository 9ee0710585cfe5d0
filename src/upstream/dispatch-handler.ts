import type { Dispatcher } from 'undici';

/**
 * What the upstream client's dispatch handlers share: the request's controller, aborted when the
 * client's signal fires (also when it fired before the request started).
 */
export abstract class SignalledHandler implements Dispatcher.DispatchHandler {
  protected controller: Dispatcher.DispatchController | undefined;

  constructor(protected readonly signal?: AbortSignal) {
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    this.controller?.abort(this.signal?.reason ?? new Error('aborted'));
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal?.aborted) this.onAbort();
  }

  /** The request is over: stop listening to the signal. */
  protected detach(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
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

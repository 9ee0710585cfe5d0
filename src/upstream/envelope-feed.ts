import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { EnvelopeDecoder, EnvelopeError, type Envelope } from '../connect-codec.js';

/** Batches held before the upstream read is paused: a client reading slowly slows the upstream. */
const HIGH_WATER_BATCHES = 64;
/** Enough of an error reply to read its Connect `{code, message}`. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

type Waiter = { resolve: (r: IteratorResult<Envelope[]>) => void; reject: (e: unknown) => void };

/** How the feed reports its outcome before the body starts: the reply's status and, if not 200, its body. */
export interface FeedStart {
  status: number;
  /** The error reply's body text (status ≠ 200 only). */
  errorBody?: string;
}

/**
 * An undici dispatch handler that decodes a Connect stream as its bytes arrive and hands out the
 * envelopes a batch per network read, as an async iterator. It replaces `request()` plus a body
 * stream plus a decoding generator: one object and no stream machinery between the socket and the
 * consumer. `return()` (the consumer leaving) aborts the request; a full queue pauses the socket.
 */
export class EnvelopeFeed implements Dispatcher.DispatchHandler, AsyncIterableIterator<Envelope[]> {
  /** Settles once the status is known (and, for an error status, the body read). */
  readonly started: Promise<FeedStart>;
  private settleStart!: { resolve: (s: FeedStart) => void; reject: (e: unknown) => void };
  private controller: Dispatcher.DispatchController | undefined;
  private readonly decoder = new EnvelopeDecoder();
  private readonly queue: Envelope[][] = [];
  private waiter: Waiter | undefined;
  private status = 0;
  private errorChunks: Buffer[] | undefined;
  private errorBytes = 0;
  private ended = false;
  private failure: unknown;
  private closed = false;

  constructor(
    /** Maps a transport error to what the caller throws. */
    private readonly mapError: (err: unknown) => unknown,
    private readonly signal?: AbortSignal,
  ) {
    this.started = new Promise((resolve, reject) => {
      this.settleStart = { resolve, reject };
    });
    this.started.catch(() => undefined);
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    this.controller?.abort(this.signal?.reason ?? new Error('aborted'));
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal?.aborted || this.closed) controller.abort(this.signal?.reason ?? new Error('aborted'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, _headers: IncomingHttpHeaders): void {
    this.status = statusCode;
    if (statusCode === 200) this.settleStart.resolve({ status: 200 });
    else this.errorChunks = [];
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.errorChunks) {
      if (this.errorBytes < MAX_ERROR_BODY_BYTES) {
        this.errorChunks.push(chunk);
        this.errorBytes += chunk.length;
      }
      return;
    }
    if (this.closed) return;
    let batch: Envelope[];
    try {
      batch = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err);
      controller.abort(err as Error);
      return;
    }
    if (batch.length === 0) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: batch, done: false });
    } else {
      this.queue.push(batch);
      if (this.queue.length >= HIGH_WATER_BATCHES) controller.pause();
    }
  }

  onResponseEnd(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    if (this.errorChunks) {
      this.settleStart.resolve({ status: this.status, errorBody: Buffer.concat(this.errorChunks).toString('utf8') });
      return;
    }
    if (this.decoder.buffered > 0) {
      this.fail(new EnvelopeError(`stream ended inside an envelope (${this.decoder.buffered} bytes left)`));
      return;
    }
    this.ended = true;
    this.wake();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.settleStart.reject(this.mapError(err));
    this.fail(err);
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined || this.ended) return;
    this.failure = this.mapError(err);
    this.wake();
  }

  /** Settles a waiting `next()` with the end or the failure. */
  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    if (this.failure !== undefined && !this.closed) w.reject(this.failure);
    else w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<Envelope[]>> {
    const batch = this.queue.shift();
    if (batch) {
      if (this.controller?.paused && this.queue.length < HIGH_WATER_BATCHES / 2) this.controller.resume();
      return Promise.resolve({ value: batch, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The consumer is done: abort the request unless it already ended. */
  return(): Promise<IteratorResult<Envelope[]>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.signal?.removeEventListener('abort', this.onAbort);
    if (!this.ended && this.failure === undefined) this.controller?.abort(new Error('stream abandoned by its consumer'));
    this.wake();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

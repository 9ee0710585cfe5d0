import type { Dispatcher } from 'undici';
import { EnvelopeDecoder, EnvelopeError, type Envelope } from './connect-codec.js';
import { BodyBuffer, SignalledHandler } from './dispatch-handler.js';

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
export class EnvelopeFeed extends SignalledHandler implements AsyncIterableIterator<Envelope[]> {
  /** Settles once the status is known (and, for an error status, the body read). */
  readonly started: Promise<FeedStart>;
  private settleStart!: { resolve: (s: FeedStart) => void; reject: (e: unknown) => void };
  private readonly decoder = new EnvelopeDecoder();
  private readonly queue: Envelope[][] = [];
  private waiter: Waiter | undefined;
  private status = 0;
  /** The body of a reply that is not 200 (a Connect error), kept to be read whole. */
  private errorBody: BodyBuffer | undefined;
  private ended = false;
  private failure: unknown;
  private closed = false;

  constructor(
    /** Maps a transport error to what the caller throws. */
    private readonly mapError: (err: unknown) => unknown,
    signal?: AbortSignal,
    deadlineMs = 0,
  ) {
    super(signal, deadlineMs);
    this.started = new Promise((resolve, reject) => {
      this.settleStart = { resolve, reject };
    });
    this.started.catch(() => undefined);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
    if (statusCode === 200) this.settleStart.resolve({ status: 200 });
    else this.errorBody = new BodyBuffer(MAX_ERROR_BODY_BYTES);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.errorBody) {
      this.errorBody.push(chunk); // past the limit the rest is dropped: the start holds the message
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
    this.detach();
    if (this.errorBody) {
      this.settleStart.resolve({ status: this.status, errorBody: this.errorBody.text() });
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
    this.detach();
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
    this.detach();
    if (!this.ended && this.failure === undefined) this.controller?.abort(new Error('stream abandoned by its consumer'));
    this.wake();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

import type { Dispatcher } from 'undici';
import { EnvelopeDecoder, EnvelopeError, type Envelope } from './connect-codec.js';
import { BodyBuffer, SignalledHandler } from './dispatch-handler.js';

/** Reads held before the upstream read is paused: a client reading slowly slows the upstream. */
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
 * envelopes as an async iterator: on each pull, what has arrived since the last one (a batch per
 * network read while the consumer keeps up). With `gatherMs`, a waiting pull is answered that long
 * after the first read that could answer it, with every read since (or at once when the stream
 * ends): for an answer nobody reads as it comes (non-stream), so that its deltas go through the
 * answer's stages in a few batches rather than one per read. It replaces `request()` plus a body
 * stream plus a decoding generator: one object and no stream machinery between the socket and the
 * consumer. `return()` (the consumer leaving) aborts the request; a full queue pauses the socket.
 */
export class EnvelopeFeed extends SignalledHandler implements AsyncIterableIterator<Envelope[]> {
  /** Settles once the status is known (and, for an error status, the body read). */
  readonly started: Promise<FeedStart>;
  private settleStart!: { resolve: (s: FeedStart) => void; reject: (e: unknown) => void };
  private readonly decoder = new EnvelopeDecoder();
  /** What arrived since the last pull, and in how many reads (the high-water mark counts reads). */
  private queue: Envelope[] = [];
  private queuedReads = 0;
  private waiter: Waiter | undefined;
  private status = 0;
  /** The body of a reply that is not 200 (a Connect error), kept to be read whole. */
  private errorBody: BodyBuffer | undefined;
  private ended = false;
  private failure: unknown;
  private closed = false;
  private gathering: NodeJS.Timeout | undefined;

  constructor(
    /** Maps a transport error to what the caller throws. */
    private readonly mapError: (err: unknown) => unknown,
    signal?: AbortSignal,
    deadlineMs = 0,
    private readonly gatherMs = 0,
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
    if (this.waiter && this.gatherMs <= 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: batch, done: false });
      return;
    }
    if (this.queue.length === 0) this.queue = batch;
    else for (const envelope of batch) this.queue.push(envelope);
    if (++this.queuedReads >= HIGH_WATER_BATCHES) controller.pause();
    if (this.waiter && !this.gathering) this.gathering = setTimeout(() => this.deliver(), this.gatherMs);
  }

  /** Answers the waiting pull with what is queued. */
  private deliver(): void {
    this.gathering = undefined;
    const w = this.waiter;
    if (!w || this.queue.length === 0) return;
    this.waiter = undefined;
    w.resolve({ value: this.takeQueued(), done: false });
  }

  /** Every queued envelope as one batch, the socket resumed if the queue had paused it. */
  private takeQueued(): Envelope[] {
    const batch = this.queue;
    this.queue = [];
    this.queuedReads = 0;
    if (this.controller?.paused) this.controller.resume();
    return batch;
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

  /** Settles a waiting `next()` with what is still queued, else with the end or the failure. */
  private wake(): void {
    clearTimeout(this.gathering);
    this.gathering = undefined;
    if (!this.closed && this.queue.length > 0) return this.deliver();
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    if (this.failure !== undefined && !this.closed) w.reject(this.failure);
    else w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<Envelope[]>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.takeQueued(), done: false });
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
    this.queue = [];
    this.queuedReads = 0;
    this.detach();
    if (!this.ended && this.failure === undefined) this.controller?.abort(new Error('stream abandoned by its consumer'));
    this.wake();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

import type { Dispatcher } from 'undici';

/** A unary reply larger than this is not a Connect JSON message. */
const MAX_REPLY_BYTES = 8 * 1024 * 1024;

export interface CollectedReply {
  status: number;
  text: string;
}

/**
 * An undici dispatch handler that gathers a small reply whole: the status and the body as text.
 * Unary calls run three times per completion, and this skips the body stream `request()` builds
 * for each. The client's signal aborts the call.
 */
export class ReplyCollector implements Dispatcher.DispatchHandler {
  readonly done: Promise<CollectedReply>;
  private settle!: { resolve: (r: CollectedReply) => void; reject: (e: unknown) => void };
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private readonly chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly signal?: AbortSignal) {
    this.done = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    this.controller?.abort(this.signal?.reason ?? new Error('aborted'));
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal?.aborted) controller.abort(this.signal.reason ?? new Error('aborted'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.bytes > MAX_REPLY_BYTES) controller.abort(new Error(`reply exceeds ${MAX_REPLY_BYTES} bytes`));
    else this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.settle.resolve({ status: this.status, text: body.toString('utf8') });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.settle.reject(err);
  }
}

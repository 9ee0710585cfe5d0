import type { Dispatcher } from 'undici';
import { BodyBuffer, SignalledHandler } from './dispatch-handler.js';

/** A unary reply larger than this is not a Connect JSON message. */
const MAX_REPLY_BYTES = 8 * 1024 * 1024;

export interface CollectedReply {
  status: number;
  text: string;
  /** The reply's Set-Cookie lines (the session cookies of a refresh). */
  setCookie: string[];
}

/**
 * An undici dispatch handler that gathers a small reply whole: the status and the body as text.
 * Unary calls run three times per completion, and this skips the body stream `request()` builds
 * for each. The client's signal aborts the call.
 */
export class ReplyCollector extends SignalledHandler {
  readonly done: Promise<CollectedReply>;
  private settle!: { resolve: (r: CollectedReply) => void; reject: (e: unknown) => void };
  private status = 0;
  private setCookie: string[] = [];
  private readonly body = new BodyBuffer(MAX_REPLY_BYTES);

  constructor(signal?: AbortSignal, deadlineMs = 0) {
    super(signal, deadlineMs);
    this.done = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.status = statusCode;
    const cookies = headers['set-cookie'];
    this.setCookie = cookies === undefined ? [] : Array.isArray(cookies) ? cookies : [cookies];
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.body.push(chunk)) controller.abort(new Error(`reply exceeds ${MAX_REPLY_BYTES} bytes`));
  }

  onResponseEnd(): void {
    this.detach();
    this.settle.resolve({ status: this.status, text: this.body.text(), setCookie: this.setCookie });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.detach();
    this.settle.reject(err);
  }
}

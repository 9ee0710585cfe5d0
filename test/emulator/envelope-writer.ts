import type { ServerResponse } from 'node:http';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { withEcho } from './echo.js';
import { pickInt, type Rng } from './prng.js';

/** Connect envelope flags. */
export const FLAG_MESSAGE = 0x00;
export const FLAG_END_STREAM = 0x02;

/** One Connect envelope: flag byte, 4-byte big-endian length, UTF-8 JSON. */
export function encodeEnvelope(body: unknown, flag = FLAG_MESSAGE): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const head = Buffer.alloc(5);
  head.writeUInt8(flag, 0);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

/** Decodes a request body that must hold exactly one uncompressed message envelope. */
export function decodeSingleEnvelope(buf: Buffer): { ok: true; value: unknown } | { ok: false; message: string } {
  if (buf.length < 5) return { ok: false, message: 'request envelope is truncated' };
  const flag = buf.readUInt8(0);
  const length = buf.readUInt32BE(1);
  if (flag !== FLAG_MESSAGE) return { ok: false, message: `unexpected envelope flag ${flag}` };
  if (buf.length !== 5 + length) return { ok: false, message: `envelope length ${length} does not match body of ${buf.length - 5} bytes` };
  try {
    return { ok: true, value: JSON.parse(buf.subarray(5).toString('utf8')) };
  } catch {
    return { ok: false, message: 'envelope is not JSON' };
  }
}

/** How a stream ended: by us, by our abrupt reset, or by the client leaving early. */
export type StreamEnd = 'ended' | 'destroyed' | 'aborted';

export interface EnvelopeStreamOptions {
  rng: Rng;
  fragment: boolean;
  /** Called once when the stream settles. */
  onSettle?: (how: StreamEnd) => void;
}

/**
 * Writes a Connect stream reply the way a hostile network delivers it: bytes cut at
 * random offsets (inside the 5-byte header and inside UTF-8 characters) and sometimes
 * several envelopes in one write. Holds stream state, hence a class.
 */
export class EnvelopeStream {
  private pending: Buffer[] = [];
  private settled: StreamEnd | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: EnvelopeStreamOptions,
  ) {
    // 'close' also fires after a normal end; only a close we did not cause is an abort.
    res.on('close', () => this.settle('aborted'));
  }

  /** Still writable: neither ended by us nor closed by the client. */
  get open(): boolean {
    return this.settled === undefined;
  }

  /** Queues one envelope; may hold it back to merge with the next one. */
  async send(body: unknown, flag = FLAG_MESSAGE): Promise<void> {
    if (!this.open) return;
    this.pending.push(encodeEnvelope(body, flag));
    const merge = this.opts.fragment && this.pending.length < 3 && this.opts.rng() < 0.3;
    if (merge) await yieldToLoop();
    else await this.flush();
  }

  /** Writes everything queued, in random pieces when fragmenting. */
  async flush(): Promise<void> {
    if (!this.open || this.pending.length === 0) return;
    const bytes = Buffer.concat(this.pending);
    this.pending = [];
    this.writeHead();
    let offset = 0;
    while (offset < bytes.length && this.open) {
      const size = this.opts.fragment ? this.pieceSize(bytes.length - offset) : bytes.length - offset;
      const ok = this.res.write(bytes.subarray(offset, offset + size));
      offset += size;
      if (!ok) await this.waitFor('drain');
      // Separate writes become separate TCP segments only if the loop turns between them.
      await yieldToLoop();
    }
  }

  /** Flushes, then waits `ms` (returns early if the client leaves). */
  async sleep(ms: number): Promise<void> {
    await this.flush();
    if (!this.open || ms <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.wakers.delete(resolve);
        resolve();
      }, ms);
      this.timers.add(timer);
      this.wakers.add(resolve);
    });
  }

  /** Waits without writing until the client closes the connection. */
  async waitForClose(): Promise<void> {
    await this.flush();
    if (!this.open) return;
    await new Promise<void>((resolve) => this.wakers.add(resolve));
  }

  /** Sends the end-of-stream trailer and ends the response. */
  async end(trailer: unknown = {}): Promise<void> {
    const error = (trailer as { error?: { message?: unknown } }).error;
    if (typeof error?.message === 'string') trailer = { ...(trailer as object), error: { ...error, message: withEcho(error.message) } };
    await this.send(trailer, FLAG_END_STREAM);
    await this.flush();
    if (!this.open) return;
    this.settle('ended');
    this.writeHead();
    this.res.end();
  }

  /** Flushes what is queued, then drops the connection without a trailer or final chunk. */
  async reset(): Promise<void> {
    await this.flush();
    if (!this.open) return;
    this.settle('destroyed');
    // Let the last bytes leave before the socket goes, so the client sees them, then the cut.
    await yieldToLoop();
    (this.res.socket ?? this.res).destroy();
  }

  private writeHead(): void {
    if (this.res.headersSent) return;
    this.res.socket?.setNoDelay(true);
    this.res.writeHead(200, { 'content-type': 'application/connect+json' });
  }

  // A quarter of the cuts land within 5 bytes so headers get split; the rest anywhere.
  private pieceSize(remaining: number): number {
    if (remaining <= 1) return remaining;
    const roll = this.opts.rng();
    if (roll < 0.25) return pickInt(this.opts.rng, 1, Math.min(5, remaining));
    if (roll < 0.7) return pickInt(this.opts.rng, 1, remaining);
    return remaining;
  }

  private waitFor(event: 'drain'): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off(event, done);
        this.wakers.delete(done);
        resolve();
      };
      this.res.on(event, done);
      this.wakers.add(done);
    });
  }

  private settle(how: StreamEnd): void {
    if (this.settled !== undefined) return;
    this.settled = how;
    this.pending = [];
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const wakers = [...this.wakers];
    this.wakers.clear();
    for (const wake of wakers) wake();
    this.opts.onSettle?.(how);
  }
}

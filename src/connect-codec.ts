/** Connect protocol envelopes: 1 flag byte, 4-byte big-endian length, JSON payload. */
export const FLAG_MESSAGE = 0x00;
export const FLAG_COMPRESSED = 0x01;
export const FLAG_END_STREAM = 0x02;

/** The largest envelope accepted; a larger length means a corrupt stream, not a big answer. */
export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;

export interface Envelope {
  flags: number;
  data: unknown;
}

/** Thrown for bytes that cannot be a Connect stream; the upstream client turns it into a 502. */
export class EnvelopeError extends Error {}

/** Encodes one JSON message (or end-of-stream trailer) as an envelope. */
export function encodeEnvelope(data: unknown, flags = FLAG_MESSAGE): Buffer {
  const payload = Buffer.from(JSON.stringify(data), 'utf8');
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = flags;
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, 5);
  return out;
}

/**
 * Incremental decoder: bytes go in as they arrive, in pieces of any size, and every complete
 * envelope comes out at once. Partial bytes are carried over to the next push.
 */
export class EnvelopeDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): Envelope[] {
    const buf = this.pending.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([this.pending, chunk]);
    const out: Envelope[] = [];
    let offset = 0;
    while (buf.length - offset >= 5) {
      const flags = buf[offset]!;
      const length = buf.readUInt32BE(offset + 1);
      if (length > MAX_ENVELOPE_BYTES) throw new EnvelopeError(`envelope length ${length} exceeds ${MAX_ENVELOPE_BYTES}`);
      if (flags & FLAG_COMPRESSED) throw new EnvelopeError('compressed envelopes are not supported');
      if (flags & ~(FLAG_COMPRESSED | FLAG_END_STREAM)) throw new EnvelopeError(`unknown envelope flags 0x${flags.toString(16)}`);
      const end = offset + 5 + length;
      if (buf.length < end) break;
      out.push({ flags, data: parseJson(buf.toString('utf8', offset + 5, end)) });
      offset = end;
    }
    // Copy the tail: the chunk's memory may belong to a pooled buffer the caller reuses.
    this.pending = offset === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(offset));
    return out;
  }

  /** Bytes received that do not yet form a complete envelope. */
  get buffered(): number {
    return this.pending.length;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new EnvelopeError(`envelope is not valid JSON (${text.length} chars)`);
  }
}

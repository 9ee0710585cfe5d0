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
 * envelope comes out at once. Partial bytes are carried over to the next push as a list of
 * pieces, joined only once the envelope the header announced is complete, so a large envelope
 * arriving in many small reads costs linear work. An announced length over MAX_ENVELOPE_BYTES
 * fails as soon as the header is read, before anything of it is buffered.
 */
export class EnvelopeDecoder {
  private pieces: Buffer[] = [];
  private size = 0;
  /** Bytes the pending envelope needs in all: its header, then header plus announced length. */
  private needed = 5;

  push(chunk: Uint8Array): Envelope[] {
    const piece = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.size === 0) return this.decode(piece);
    // Copied: the chunk's memory may belong to a pooled buffer the caller reuses.
    this.pieces.push(Buffer.from(piece));
    this.size += piece.length;
    if (this.size < this.needed) return [];
    const buf = Buffer.concat(this.pieces, this.size);
    this.pieces = [];
    this.size = 0;
    return this.decode(buf);
  }

  private decode(buf: Buffer): Envelope[] {
    const out: Envelope[] = [];
    let offset = 0;
    this.needed = 5;
    while (buf.length - offset >= 5) {
      const flags = buf[offset]!;
      const length = buf.readUInt32BE(offset + 1);
      if (length > MAX_ENVELOPE_BYTES) throw new EnvelopeError(`envelope length ${length} exceeds ${MAX_ENVELOPE_BYTES}`);
      if (flags & FLAG_COMPRESSED) throw new EnvelopeError('compressed envelopes are not supported');
      if (flags & ~(FLAG_COMPRESSED | FLAG_END_STREAM)) throw new EnvelopeError(`unknown envelope flags 0x${flags.toString(16)}`);
      const end = offset + 5 + length;
      if (buf.length < end) {
        this.needed = 5 + length;
        break;
      }
      out.push({ flags, data: parseJson(buf.toString('utf8', offset + 5, end)) });
      offset = end;
    }
    if (offset < buf.length) {
      this.pieces = [Buffer.from(buf.subarray(offset))];
      this.size = buf.length - offset;
    }
    return out;
  }

  /** Bytes received that do not yet form a complete envelope. */
  get buffered(): number {
    return this.size;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new EnvelopeError(`envelope is not valid JSON (${text.length} chars)`);
  }
}

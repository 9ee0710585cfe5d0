import { createHash, randomBytes, type Hash } from 'node:crypto';
import { inlineRefs, reference, type InlineFiles, type InlinePart } from './inline-refs.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;
const COMMA = 0x2c;
const START = Buffer.from('"data:');
const FILE_DATA = Buffer.from('"file_data"');
/** The most whitespace looked at around the colon after `"file_data"`. */
const MAX_SPACE = 64;
/** The longest `data:` header (MIME type and parameters) looked at. */
const MAX_HEAD = 512;
/** Decoded bytes are kept in blocks of this size (a multiple of 3: whole base64 groups fill one). */
const BLOCK = 3 * 256 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*$/;

interface Current {
  hash: Hash;
  early: string[];
  earlyChars: number;
  decoding: boolean;
  carry: string;
  chars: number;
  pad: string;
  blocks: Buffer[];
  at: number;
}

/**
 * Scans a JSON body as it arrives for string values `"data:<…>;base64,<payload>"` whose payload is
 * at least `minChars` long, and for `"file_data": "<bare base64>"` (as Dify sends files); decodes
 * each payload into blocks on the way (carrying 0–3 characters between chunks; `\/` is unescaped,
 * any other escape or character leaves the value as it was), and keeps in the text only a
 * reference (src/attachments/inline-refs.ts). A 60 MB data URL then costs its 45 MB of bytes, not
 * its text, its parsed copy and its decoded copy.
 */
export function createDataUrlScanner(minChars = 64 * 1024) {
  const nonce = randomBytes(16).toString('hex');
  const parts: InlinePart[] = [];
  const text: Buffer[] = [];
  let textBytes = 0;
  let decodedBytes = 0;
  let state: 'scan' | 'payload' | 'skip' = 'scan';
  // Bytes not decided on at a chunk's end (a cut `"data:` or header, a lone backslash): put before the next.
  let pending: Buffer | undefined;
  // Backslashes right before the next chunk's first byte, to tell `\"` from `"` across chunks.
  let slashes = 0;
  let cur: Current | undefined;

  const emit = (b: Buffer) => {
    if (b.length === 0) return;
    text.push(b);
    textBytes += b.length;
  };

  /** Backslashes right before data[at], counting those carried from before data[0]. */
  function runBefore(data: Buffer, at: number): number {
    let n = 0;
    while (at - n - 1 >= 0 && data[at - n - 1] === BACKSLASH) n++;
    return at - n === 0 ? n + slashes : n;
  }

  /**
   * Decodes `s` (whole groups) into the blocks; false, with nothing written, when it holds anything
   * but the standard alphabet. Checked by encoding the bytes again: a regular expression over the
   * payload cost 30 times the decoding.
   */
  function writeBase64(s: string): boolean {
    const c = cur!;
    const before = { blocks: c.blocks.length, at: c.at, decoded: decodedBytes };
    for (let at = 0; at < s.length; ) {
      let block = c.blocks.at(-1);
      if (!block || c.at === block.length) {
        block = Buffer.allocUnsafe(BLOCK);
        c.blocks.push(block);
        c.at = 0;
      }
      const take = Math.min(s.length - at, ((block.length - c.at) / 3) * 4);
      const piece = s.slice(at, at + take);
      const n = block.write(piece, c.at, 'base64');
      if (n !== (take / 4) * 3 || block.toString('base64', c.at, c.at + n) !== piece) {
        c.blocks.length = before.blocks;
        c.at = before.at;
        decodedBytes = before.decoded;
        return false;
      }
      c.at += n;
      decodedBytes += n;
      at += take;
    }
    return true;
  }

  /** Takes payload characters; false when they are not base64 (the value is then left as it was). */
  function take(chars: string): boolean {
    const c = cur!;
    if (!c.decoding) {
      if (!BASE64.test(chars)) return false;
      c.hash.update(chars, 'latin1');
      c.chars += chars.length;
      c.early.push(chars);
      c.earlyChars += chars.length;
      if (c.earlyChars < minChars) return true;
      c.decoding = true;
      const s = c.early.join('');
      c.early = [];
      const whole = s.length - (s.length % 4);
      c.carry = s.slice(whole);
      return writeBase64(s.slice(0, whole));
    }
    const s = c.carry + chars;
    const whole = s.length - (s.length % 4);
    if (!writeBase64(s.slice(0, whole))) return false;
    c.carry = s.slice(whole);
    c.hash.update(chars, 'latin1');
    c.chars += chars.length;
    return true;
  }

  /** The value cannot be taken out: what was taken goes back into the text as it was. */
  function giveBack(): void {
    const c = cur!;
    const decoded = c.blocks.map((b, i) => (i === c.blocks.length - 1 ? b.subarray(0, c.at) : b));
    for (const b of decoded) decodedBytes -= b.length;
    emit(Buffer.from(c.early.join('') + Buffer.concat(decoded).toString('base64') + c.carry + c.pad, 'latin1'));
    cur = undefined;
  }

  function finish(): void {
    const c = cur!;
    cur = undefined;
    if (!c.decoding) {
      emit(Buffer.from(c.early.join('') + c.pad, 'latin1'));
      return;
    }
    const fullBytes = c.blocks.reduce((n, b, i) => n + (i === c.blocks.length - 1 ? c.at : b.length), 0);
    const tail = Buffer.from(c.carry, 'base64');
    if (tail.length > 0) {
      const last = c.blocks.at(-1);
      if (last && c.at + tail.length <= last.length) c.at += tail.copy(last, c.at);
      else {
        c.blocks.push(tail);
        c.at = tail.length;
      }
      decodedBytes += tail.length;
    }
    const blocks = c.blocks.map((b, i) => (i === c.blocks.length - 1 ? b.subarray(0, c.at) : b));
    const { carry, pad } = c;
    parts.push({
      blocks,
      size: fullBytes + tail.length,
      // As decodeClean judges a payload: its length with padding is not 4n+1.
      valid: c.chars % 4 !== 1,
      digest: `sha256:${c.hash.digest('base64url')}`,
      base64: () => Buffer.concat(blocks).subarray(0, fullBytes).toString('base64') + carry + pad,
    });
    emit(Buffer.from(reference(nonce, parts.length - 1), 'latin1'));
  }

  /**
   * From data[at] (`"data:`) to the comma, `\\/` unescaped (PHP writes `image\\/png`): the index to
   * scan on from when it is no base64 data URL, -1 when it is cut by the chunk's end, or where its
   * payload starts.
   */
  function header(data: Buffer, at: number): number | { payload: number } {
    const from = at + START.length;
    const pieces: Buffer[] = [];
    let piece = at + 1;
    for (let i = from; i < from + MAX_HEAD; i++) {
      if (i >= data.length) return -1;
      const c = data[i];
      if (c === QUOTE) return from;
      if (c === BACKSLASH) {
        if (i + 1 === data.length) return -1;
        if (data[i + 1] !== SLASH) return from;
        pieces.push(data.subarray(piece, i));
        piece = ++i;
      } else if (c === COMMA) {
        pieces.push(data.subarray(piece, i + 1));
        const head = Buffer.concat(pieces);
        if (!/;base64,$/i.test(head.toString('latin1'))) return from;
        cur = fresh(createHash('sha256').update(head));
        return { payload: i + 1 };
      }
    }
    return from;
  }

  /**
   * From data[at] (`"file_data"`) to the opening quote of its value, which Dify sends as bare
   * base64: the same answers as header(); a value that is a data URL is left to header().
   */
  function fileData(data: Buffer, at: number): number | { payload: number } {
    let i = at + FILE_DATA.length;
    const space = () => {
      const from = i;
      while (i < data.length && i - from <= MAX_SPACE && (data[i] === 0x20 || data[i] === 0x09 || data[i] === 0x0a || data[i] === 0x0d)) i++;
      return i - from <= MAX_SPACE;
    };
    if (!space()) return i;
    if (i === data.length) return -1;
    if (data[i] !== 0x3a) return i;
    i++;
    if (!space()) return i;
    if (i + START.length > data.length) return -1;
    if (data[i] !== QUOTE) return i;
    if (data.subarray(i, i + START.length).equals(START)) return i;
    cur = fresh(createHash('sha256'));
    return { payload: i + 1 };
  }

  const fresh = (hash: Hash): Current => ({ hash, early: [], earlyChars: 0, decoding: false, carry: '', chars: 0, pad: '', blocks: [], at: 0 });

  /** How many bytes at the end of data[from..] could begin `pattern`. */
  function cutStart(data: Buffer, from: number, pattern: Buffer): number {
    let keep = Math.min(pattern.length - 1, data.length - from);
    while (keep > 0 && !data.subarray(data.length - keep).equals(pattern.subarray(0, keep))) keep--;
    return keep;
  }

  function write(chunk: Buffer): void {
    const data = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let i = 0;
    while (i < data.length) {
      if (state === 'scan') {
        const url = data.indexOf(START, i);
        const file = data.indexOf(FILE_DATA, i);
        const at = url < 0 ? file : file < 0 ? url : Math.min(url, file);
        if (at < 0) {
          // A `"data:` or `"file_data"` cut by the chunk's end waits for the next one.
          const keep = Math.max(cutStart(data, i, START), cutStart(data, i, FILE_DATA));
          emit(data.subarray(i, data.length - keep));
          slashes = runBefore(data, data.length - keep);
          if (keep > 0) pending = data.subarray(data.length - keep);
          return;
        }
        if (runBefore(data, at) % 2 === 1) {
          emit(data.subarray(i, at + 1));
          i = at + 1;
          continue;
        }
        const next = at === url ? header(data, at) : fileData(data, at);
        if (next === -1) {
          emit(data.subarray(i, at));
          slashes = runBefore(data, at);
          pending = data.subarray(at);
          return;
        }
        if (typeof next === 'number') {
          emit(data.subarray(i, next));
          i = next;
          continue;
        }
        emit(data.subarray(i, next.payload));
        i = next.payload;
        state = 'payload';
        slashes = 0;
      } else if (state === 'payload') {
        // A chunk's share of the payload at once: `\/` (some encoders write every slash so) is
        // unescaped in one pass, and a lone backslash at the chunk's end waits for the next.
        const q = data.indexOf(QUOTE, i);
        let end = q < 0 ? data.length : q;
        const cut = q < 0 && data[end - 1] === BACKSLASH;
        if (cut) end--;
        let seg = data.toString('latin1', i, end);
        // Padding only right before the closing quote.
        const pad = end === q ? (seg.endsWith('==') ? '==' : seg.endsWith('=') ? '=' : '') : '';
        if (pad) seg = seg.slice(0, seg.length - pad.length);
        const escaped = seg.includes('\\');
        if ((escaped && /\\[^/]|\\$/.test(seg)) || !take(escaped ? seg.replaceAll('\\/', '/') : seg)) {
          giveBack();
          state = 'skip';
          continue;
        }
        if (pad) {
          cur!.hash.update(pad);
          cur!.chars += pad.length;
          cur!.pad = pad;
        }
        if (cut) pending = data.subarray(end);
        if (q < 0) return;
        i = q;
        finish();
        state = 'scan';
      } else {
        // A value left as it was: copied until its closing quote.
        let q = data.indexOf(QUOTE, i);
        while (q >= 0 && runBefore(data, q) % 2 === 1) q = data.indexOf(QUOTE, q + 1);
        if (q < 0) {
          emit(data.subarray(i));
          slashes = runBefore(data, data.length);
          return;
        }
        emit(data.subarray(i, q));
        i = q;
        state = 'scan';
        slashes = 0;
      }
    }
  }

  /** The JSON text left, and the parts taken out of it (undefined when none). */
  function end(): { text: Buffer; files?: InlineFiles } {
    if (cur) giveBack();
    if (pending) emit(pending);
    pending = undefined;
    const all = Buffer.concat(text, textBytes);
    text.length = 0;
    if (parts.length === 0) return { text: all };
    return { text: all, files: inlineRefs(nonce, parts) };
  }

  return { write, end };
}

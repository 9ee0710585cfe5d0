import { AttachmentInvalidError, AttachmentTooLargeError } from '../errors.js';
import type { InlineFiles } from './inline-refs.js';
import { bufferedFile, checkSize, fileName, type PreparedFile } from './prepared-file.js';
import { resolveMime, SNIFF_BYTES } from './sniff.js';

// RFC 6838 type/subtype names.
const MIME = /^[A-Za-z0-9][\w!#$&^.+-]{0,126}\/[A-Za-z0-9][\w!#$&^.+-]{0,126}$/;

interface Decoded {
  /** The bytes, in blocks when decoded as the body arrived (every block but the last ≥ SNIFF_BYTES). */
  bytes: Buffer | Buffer[];
  mime?: string;
  name?: string;
}

const BASE64_BODY = /^[A-Za-z0-9+/_-]*$/;
/** Characters checked and decoded at a time, a multiple of 4; the event loop runs between slices. */
const SLICE = 512 * 1024;

/**
 * Checks and decodes base64 a slice at a time, yielding between slices: each pass over a 60 MB
 * payload at once held the event loop for tens of ms. Whitespace is stripped only from a payload
 * that does not pass as it is.
 */
async function decodeBase64(data: string, what: string, maxBytes: number): Promise<Buffer> {
  try {
    return await decodeClean(data, what, maxBytes);
  } catch (err) {
    // Whitespace counted towards the size too: both errors are given again without it.
    if (!(err instanceof AttachmentInvalidError || err instanceof AttachmentTooLargeError) || !/\s/.test(data)) throw err;
  }
  return decodeClean(data.replace(/\s+/g, ''), what, maxBytes);
}

async function decodeClean(clean: string, what: string, maxBytes: number): Promise<Buffer> {
  const padding = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  if (clean === '' || clean.length % 4 === 1) throw new AttachmentInvalidError(`${what} is not valid base64`);
  // Checked before decoding, so an oversized payload is never decoded into memory.
  const size = Math.floor(((clean.length - padding) * 3) / 4);
  if (size > maxBytes) throw new AttachmentTooLargeError(what, String(maxBytes));
  const out = Buffer.allocUnsafe(size);
  let written = 0;
  for (let at = 0; at < clean.length; at += SLICE) {
    if (at > 0) await new Promise((resolve) => setImmediate(resolve));
    const slice = clean.slice(at, Math.min(clean.length, at + SLICE));
    const payload = at + SLICE >= clean.length ? slice.slice(0, slice.length - padding) : slice;
    if (!BASE64_BODY.test(payload)) throw new AttachmentInvalidError(`${what} is not valid base64`);
    // Node's base64 decoder takes the URL-safe alphabet (-_) as well.
    written += out.write(payload, written, 'base64');
  }
  return out.subarray(0, written);
}

/** The payload decoded as the body arrived when `text` (a data URL or bare base64) refers to one of this request's, else decoded now. */
async function decodeBase64OrTaken(data: string, text: string, inline: InlineFiles | undefined, maxBytes: number, what: string): Promise<Buffer | Buffer[]> {
  const part = inline?.find(text);
  if (!part) return decodeBase64(data, what, maxBytes);
  if (!part.valid || part.size === 0) throw new AttachmentInvalidError(`${what} is not valid base64`);
  if (part.size > maxBytes) throw new AttachmentTooLargeError(what, String(maxBytes));
  return part.blocks;
}

/** Decodes `data:<mime>[;name=…][;base64],<data>`, or a bare base64 payload (Dify's file_data) when `bare` allows it. */
async function decode(text: string, maxBytes: number, bare: boolean, inline: InlineFiles | undefined): Promise<Decoded> {
  if (!/^data:/i.test(text)) {
    if (!bare) throw new AttachmentInvalidError('an image_url or file_url is neither an http(s) URL nor a data: URL');
    return { bytes: await decodeBase64OrTaken(text, text, inline, maxBytes, 'a file_data that is neither a data URL nor base64') };
  }
  const comma = text.indexOf(',');
  if (comma < 0) throw new AttachmentInvalidError('a data URL has no comma before its data');
  const head = text.slice(5, comma);
  // A header value later (the upload's Content-Type): CR/LF would split it, and the upstream answer a 502 clients retry.
  if (/[\u0000-\u001f\u007f]/.test(head)) throw new AttachmentInvalidError("a data URL's MIME type or parameters hold control characters");
  const [type, ...params] = head.split(';');
  if (type?.trim() && !MIME.test(type.trim())) throw new AttachmentInvalidError(`a data URL's MIME type "${type.trim().slice(0, 64)}" is not of the form type/subtype`);
  const data = text.slice(comma + 1);
  const isBase64 = params.some((p) => p.trim().toLowerCase() === 'base64');
  const named = params.find((p) => /^(file)?name=/i.test(p.trim()));
  const name = named ? safeDecode(named.slice(named.indexOf('=') + 1)) : undefined;
  if (isBase64) return { bytes: await decodeBase64OrTaken(data, text, inline, maxBytes, 'a data URL'), mime: type?.trim() || undefined, name };
  const plain = safeDecode(data);
  if (plain === undefined) throw new AttachmentInvalidError('a data URL has invalid percent-encoding');
  return { bytes: Buffer.from(plain, 'utf8'), mime: type?.trim() || 'text/plain', name };
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * An attachment given inline (data URL, or bare base64 where `bare`), decoded and typed; fails
 * with 400 or 413. A data URL `inline` took out of the body as it arrived is not decoded again.
 */
export async function inlineFile(
  text: string,
  opts: { filename?: string; fallback: string; maxBytes: number; bare?: boolean; inline?: InlineFiles },
): Promise<PreparedFile> {
  const { bytes, mime: declared, name } = await decode(text, opts.maxBytes, opts.bare === true, opts.inline);
  const given = opts.filename ?? name;
  const first = Array.isArray(bytes) ? (bytes[0] ?? Buffer.alloc(0)) : bytes;
  const type = resolveMime(first.subarray(0, SNIFF_BYTES), declared, given);
  const fullName = fileName(given, type.mime, opts.fallback);
  checkSize(Array.isArray(bytes) ? bytes.reduce((n, b) => n + b.length, 0) : bytes.length, fullName, opts.maxBytes);
  return bufferedFile(bytes, { name: fullName, mime: type.mime, width: type.width, height: type.height });
}

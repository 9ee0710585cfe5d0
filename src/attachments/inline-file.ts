import { AttachmentInvalidError, AttachmentTooLargeError } from '../errors.js';
import { bufferedFile, checkSize, fileName, type PreparedFile } from './prepared-file.js';
import { resolveMime, SNIFF_BYTES } from './sniff.js';

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
// RFC 6838 type/subtype names.
const MIME = /^[A-Za-z0-9][\w!#$&^.+-]{0,126}\/[A-Za-z0-9][\w!#$&^.+-]{0,126}$/;

interface Decoded {
  bytes: Buffer;
  mime?: string;
  name?: string;
}

function decodeBase64(data: string, what: string, maxBytes: number): Buffer {
  const clean = data.replace(/\s+/g, '');
  if (clean === '' || !BASE64.test(clean) || clean.length % 4 === 1) throw new AttachmentInvalidError(`${what} is not valid base64`);
  // Checked before decoding, so an oversized payload is never decoded into memory.
  const size = Math.floor((clean.replace(/=+$/, '').length * 3) / 4);
  if (size > maxBytes) throw new AttachmentTooLargeError(what, String(maxBytes));
  return Buffer.from(clean, /[-_]/.test(clean) ? 'base64url' : 'base64');
}

/** Decodes `data:<mime>[;name=…][;base64],<data>`, or a bare base64 payload (Dify's file_data) when `bare` allows it. */
function decode(text: string, maxBytes: number, bare: boolean): Decoded {
  if (!/^data:/i.test(text)) {
    if (!bare) throw new AttachmentInvalidError('an image_url or file_url is neither an http(s) URL nor a data: URL');
    return { bytes: decodeBase64(text, 'a file_data that is neither a data URL nor base64', maxBytes) };
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
  if (isBase64) return { bytes: decodeBase64(data, 'a data URL', maxBytes), mime: type?.trim() || undefined, name };
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

/** An attachment given inline (data URL, or bare base64 where `bare`), decoded and typed; fails with 400 or 413. */
export function inlineFile(text: string, opts: { filename?: string; fallback: string; maxBytes: number; bare?: boolean }): PreparedFile {
  const { bytes, mime: declared, name } = decode(text, opts.maxBytes, opts.bare === true);
  const given = opts.filename ?? name;
  const type = resolveMime(bytes.subarray(0, SNIFF_BYTES), declared, given);
  const fullName = fileName(given, type.mime, opts.fallback);
  checkSize(bytes.length, fullName, opts.maxBytes);
  return bufferedFile(bytes, { name: fullName, mime: type.mime, width: type.width, height: type.height });
}

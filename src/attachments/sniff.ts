import { AttachmentInvalidError } from '../errors.js';

/** What the first bytes of a file say it is; dimensions for the image formats StepChat shows. */
export interface Sniffed {
  mime?: string;
  width?: number;
  height?: number;
}

/** How many leading bytes sniffing wants: enough for a JPEG's EXIF block before its frame header. */
export const SNIFF_BYTES = 64 * 1024;

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const PPTX = 'application/vnd.openxmlformats-officedocument.presentationml.presentation';

const EXT_MIME: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  pdf: 'application/pdf',
  docx: DOCX,
  xlsx: XLSX,
  pptx: PPTX,
  doc: 'application/msword',
  xls: 'application/vnd.ms-excel',
  ppt: 'application/vnd.ms-powerpoint',
  zip: 'application/zip',
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  json: 'application/json',
  html: 'text/html',
  htm: 'text/html',
};

/** The usual extension of a MIME type, if it is one StepChat reads. */
export function extensionFor(mime: string): string | undefined {
  return Object.keys(EXT_MIME).find((ext) => EXT_MIME[ext] === mime);
}

/** The MIME type a file name's extension suggests. */
export function mimeForName(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? undefined : EXT_MIME[name.slice(dot + 1).toLowerCase()];
}

const startsWith = (b: Buffer, sig: string, at = 0) => b.length >= at + sig.length && b.toString('latin1', at, at + sig.length) === sig;

/** Recognizes PNG, JPEG, GIF, WEBP, PDF and ZIP-based Office files by their magic bytes. */
export function sniff(head: Buffer): Sniffed {
  if (startsWith(head, '\x89PNG\r\n\x1a\n')) {
    return head.length >= 24 ? { mime: 'image/png', width: head.readUInt32BE(16), height: head.readUInt32BE(20) } : { mime: 'image/png' };
  }
  if (startsWith(head, '\xff\xd8\xff')) return { mime: 'image/jpeg', ...jpegSize(head) };
  if (startsWith(head, 'GIF87a') || startsWith(head, 'GIF89a')) {
    return head.length >= 10 ? { mime: 'image/gif', width: head.readUInt16LE(6), height: head.readUInt16LE(8) } : { mime: 'image/gif' };
  }
  if (startsWith(head, 'RIFF') && startsWith(head, 'WEBP', 8)) return { mime: 'image/webp', ...webpSize(head) };
  if (startsWith(head, '%PDF-')) return { mime: 'application/pdf' };
  if (startsWith(head, 'PK\x03\x04')) return { mime: officeKind(head) };
  return {};
}

// An Office file is a ZIP whose entry names (stored in clear in each local header) give it away.
function officeKind(head: Buffer): string {
  const names = head.toString('latin1');
  if (names.includes('word/')) return DOCX;
  if (names.includes('xl/')) return XLSX;
  if (names.includes('ppt/')) return PPTX;
  return 'application/zip';
}

function jpegSize(b: Buffer): Pick<Sniffed, 'width' | 'height'> {
  let i = 2;
  while (i + 9 <= b.length) {
    if (b[i] !== 0xff) return {};
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    // SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    }
    if (marker === 0xd9 || marker === 0xda) return {};
    i += 2 + b.readUInt16BE(i + 2);
  }
  return {};
}

function webpSize(b: Buffer): Pick<Sniffed, 'width' | 'height'> {
  if (b.length < 30) return {};
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  if (chunk === 'VP8L') {
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  return {};
}

/** Whether the bytes read as text: no NUL and valid UTF-8 (a sequence cut at the end is fine). */
export function looksLikeText(head: Buffer): boolean {
  if (head.length === 0 || head.includes(0)) return false;
  let end = head.length;
  // Drop an incomplete trailing UTF-8 sequence: the sniffed window may end inside a character.
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const byte = head[end - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    if (byte >= 0xc0) {
      const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      if (back < need) end -= back;
    }
    break;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, end));
    return true;
  } catch {
    return false;
  }
}

const GENERIC = new Set(['', 'application/octet-stream', 'binary/octet-stream', 'application/unknown']);

/**
 * The MIME type to declare upstream: magic bytes first (origins often mislabel), then a specific
 * declared type (Content-Type or data URL), then the file name's extension, then text or binary.
 * A file declared as an image whose bytes are no image of a known kind is refused (400, naming
 * what the bytes are): uploaded, the upstream would fail on it or answer about nothing.
 */
export function resolveMime(head: Buffer, declared: string | undefined, name: string | undefined): Sniffed & { mime: string } {
  const sniffed = sniff(head);
  const declaredType = (declared ?? '').split(';')[0]!.trim().toLowerCase();
  if (declaredType.startsWith('image/') && !sniffed.mime?.startsWith('image/')) {
    const actual = sniffed.mime ?? (looksLikeText(head) ? 'text/plain' : 'unrecognised binary data');
    throw new AttachmentInvalidError(`an attachment declared as ${declaredType.slice(0, 64)} is not an image of a known type (PNG, JPEG, GIF, WEBP): its bytes are ${actual}`);
  }
  const byName = name ? mimeForName(name) : undefined;
  if (sniffed.mime === 'application/zip' && byName && [DOCX, XLSX, PPTX].includes(byName)) return { ...sniffed, mime: byName };
  if (sniffed.mime) return { ...sniffed, mime: sniffed.mime };
  const clean = (declared ?? '').split(';')[0]!.trim().toLowerCase();
  if (!GENERIC.has(clean)) return { mime: clean };
  if (byName) return { mime: byName };
  return { mime: looksLikeText(head) ? 'text/plain' : 'application/octet-stream' };
}

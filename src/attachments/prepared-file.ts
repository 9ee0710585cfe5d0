import { Readable } from 'node:stream';
import { AttachmentInvalidError, AttachmentTooLargeError } from '../errors.js';
import { extensionFor, mimeForName } from './sniff.js';

/** An attachment checked and ready to go upstream: what it is, and its bytes on demand. */
export interface PreparedFile {
  name: string;
  mime: string;
  size: number;
  width?: number;
  height?: number;
  /** The bytes for one upload attempt; a retry (after a session refresh) calls it again. */
  open(signal: AbortSignal): Promise<Readable | Buffer>;
  /** Releases what the file holds (origin connection, temporary file); safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * A file held in memory (data URLs, and remote files small enough to fit the sniffing window); in
 * blocks it goes out as a stream of them, never joined into one more copy.
 */
export function bufferedFile(bytes: Buffer | Buffer[], meta: Omit<PreparedFile, 'open' | 'dispose' | 'size'>): PreparedFile {
  if (!Array.isArray(bytes) || bytes.length === 1) {
    const one = Array.isArray(bytes) ? bytes[0]! : bytes;
    return { ...meta, size: one.length, open: async () => one, dispose: async () => undefined };
  }
  const size = bytes.reduce((n, b) => n + b.length, 0);
  return { ...meta, size, open: async () => Readable.from(bytes, { objectMode: false }), dispose: async () => undefined };
}

/** Refuses an empty file or one over the limit, by its (announced or counted) size. */
export function checkSize(size: number, name: string, maxBytes: number): void {
  if (size === 0) throw new AttachmentInvalidError(`attachment ${name} is empty`);
  if (size > maxBytes) throw new AttachmentTooLargeError(name, String(maxBytes));
}

const MAX_NAME = 200;

/**
 * The name the file goes upstream with: the given one cleaned of path and control characters,
 * else `fallback`; with the MIME type's extension appended when the name does not show the type
 * (StepChat picks its reader by extension).
 */
export function fileName(given: string | undefined, mime: string, fallback: string): string {
  let name = (given ?? '').replace(/[\u0000-\u001f\u007f/\\]+/g, '_').trim().replace(/^\.+/, '');
  if (name === '') name = fallback;
  if (name.length > MAX_NAME) name = name.slice(0, MAX_NAME);
  if (mimeForName(name) === mime) return name;
  const ext = extensionFor(mime);
  const hasExt = /\.[A-Za-z0-9]{1,8}$/.test(name);
  // A text file keeps a name like script.py; a PDF called download.php becomes download.php.pdf.
  if (ext && (!hasExt || !mime.startsWith('text/'))) return `${name}.${ext}`;
  return name;
}

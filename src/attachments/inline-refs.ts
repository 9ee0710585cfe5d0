/** A data URL's payload, decoded as its body arrived (src/attachments/data-url-scan.ts). */
export interface InlinePart {
  /** The bytes: every block but the last is full. */
  blocks: Buffer[];
  size: number;
  /** False when the payload is not valid base64 (a length of 4n+1). */
  valid: boolean;
  /** SHA-256 of the data URL as JSON parsing gives it, as conversations key long URLs. */
  digest: string;
  /** The payload as sent (`\/` unescaped), for a reference found where no attachment is read. */
  base64(): string;
}

/** The data URLs (and bare base64 file_data) a body held, each replaced in its JSON by a reference only its request knows. */
export interface InlineFiles {
  parts: InlinePart[];
  /** The part a data URL string refers to, or undefined (not a reference, or another request's). */
  find(url: string): InlinePart | undefined;
  /** `text` with every reference put back as the base64 it replaced. */
  restore(text: string): string;
  /** Whether `text` holds a reference of this request. */
  refers(text: string): boolean;
}

/**
 * The reference a payload is replaced by in the JSON text: `@inline:<nonce>:<n>`. `@` and `:` are
 * outside the base64 alphabet, so no real payload reads as one, and the nonce is random per request,
 * so no client can forge one for its own request.
 */
export function reference(nonce: string, n: number): string {
  return `@inline:${nonce}:${n}`;
}

/** The parts one request's body held, looked up by the references its JSON now has. */
export function inlineRefs(nonce: string, parts: InlinePart[]): InlineFiles {
  const marker = reference(nonce, 0).slice(0, -1);
  const ref = new RegExp(`${marker}(\\d+)`, 'g');
  return {
    parts,
    find(url) {
      const m = /^@inline:([0-9a-f]{32}):(\d+)$/.exec(url.slice(url.indexOf(',') + 1));
      return m && m[1] === nonce ? parts[Number(m[2])] : undefined;
    },
    refers: (s) => s.includes(marker),
    restore: (s) => s.replace(ref, (m, n: string) => parts[Number(n)]?.base64() ?? m),
  };
}

/**
 * Puts every reference back as its base64 except where an attachment is read (a message part's
 * image_url, file_url.url or file.file_data), so a data URL given as plain text, a name or a key
 * reaches the upstream as it was sent.
 */
export function restoreOutsideAttachments(body: unknown, files: InlineFiles): void {
  const allowed = new Map<object, string>();
  const messages = (body as { messages?: unknown }).messages;
  if (Array.isArray(messages)) {
    for (const m of messages) {
      const content = (m as { content?: unknown } | null)?.content;
      if (!Array.isArray(content)) continue;
      for (const part of content as Record<string, unknown>[]) {
        if (part === null || typeof part !== 'object') continue;
        const image = part.image_url as { url?: unknown } | string | undefined;
        if (typeof image === 'string') allowed.set(part, 'image_url');
        else if (image && typeof image === 'object') allowed.set(image, 'url');
        const fileUrl = part.file_url;
        if (fileUrl && typeof fileUrl === 'object') allowed.set(fileUrl, 'url');
        const file = part.file;
        if (file && typeof file === 'object') allowed.set(file, 'file_data');
      }
    }
  }
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const value = record[key];
      if (typeof value === 'string') {
        if (files.refers(value) && !(allowed.get(record) === key && files.find(value))) record[key] = files.restore(value);
      } else walk(value);
      if (files.refers(key)) {
        record[files.restore(key)] = record[key];
        delete record[key];
      }
    }
  };
  walk(body);
}

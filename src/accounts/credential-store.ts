import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { fingerprint } from './credentials.js';

export interface StoredCredential {
  deviceId: string;
  secret: string;
  access?: string;
  updatedAt: number;
}

const FILE = 'credentials.json';

type Line = StoredCredential & { id: string };

/**
 * The stored credentials: JSON lines, one per rotation, the last of an account winning; an
 * earlier version's single JSON object is read too. Either that or a cut last line has the file
 * rewritten at the next change.
 */
function readStored(text: string): { entries: Map<string, StoredCredential>; lines: number; rewrite: boolean } {
  const entries = new Map<string, StoredCredential>();
  const keep = (id: string, value: StoredCredential | undefined) => {
    if (value && typeof value.deviceId === 'string' && typeof value.secret === 'string') entries.set(id, value);
  };
  // Several lines never parse as one value; one line is a journal line when it has its `id`.
  const whole = tryParse(text);
  if (whole && typeof whole === 'object' && typeof (whole as Partial<Line>).id !== 'string') {
    for (const [id, value] of Object.entries(whole as Record<string, StoredCredential>)) keep(id, value);
    return { entries, lines: 0, rewrite: true };
  }
  let lines = 0;
  for (const raw of text.split('\n')) {
    const line = raw ? (tryParse(raw) as Line | undefined) : undefined; // undefined: blank, or cut by a crash
    if (!line || typeof line.id !== 'string') continue;
    const { id, ...value } = line;
    keep(id, value);
    lines++;
  }
  // A last line cut by a crash: the next line would be appended to it, so the file is rewritten.
  return { entries, lines, rewrite: text !== '' && !text.endsWith('\n') };
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Keeps the newest credentials of each account (the upstream rotates refresh tokens) in a file
 * under DATA_DIR, so a restart resumes with them instead of a possibly revoked original. Keyed by
 * the fingerprint of the credential the user configured. A rotation appends one line (a pool of
 * 10,000 accounts rewrote its whole 1.5 MB file, synchronously, at every login); once the lines
 * outnumber the accounts twice over, the file is rewritten atomically (temp file + rename).
 * Owner-only permissions; never logged. If the directory is not writable the store keeps working
 * in memory and says so once.
 */
export function createCredentialStore(dir: string, log: FastifyBaseLogger, namespace = '') {
  // Keyed by dialect + upstream base URL + account, so one upstream's tokens never reach another.
  const key = (id: string) => (namespace ? fingerprint(`${namespace}\n${id}`) : id);
  const path = join(dir, FILE);
  let entries = new Map<string, StoredCredential>();
  let lines = 0;
  let rewriteFirst = false;
  let writable = true;
  let fd: number | undefined;

  try {
    ({ entries, lines, rewrite: rewriteFirst } = readStored(readFileSync(path, 'utf8')));
    log.info({ accounts: entries.size }, 'loaded stored credentials');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ code: (err as NodeJS.ErrnoException).code }, `ignoring unreadable ${FILE}`);
  }

  const lineOf = (id: string, value: StoredCredential) => `${JSON.stringify({ id, ...value })}\n`;

  function shut(): void {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  }

  function persist(id: string, value: StoredCredential): void {
    if (!writable) return;
    try {
      if (fd === undefined) mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (rewriteFirst || lines >= 2 * entries.size + 64) {
        const tmp = `${path}.${process.pid}.tmp`;
        writeFileSync(tmp, [...entries].map(([k, v]) => lineOf(k, v)).join(''), { mode: 0o600 });
        renameSync(tmp, path);
        shut();
        lines = entries.size;
        rewriteFirst = false;
        return;
      }
      fd ??= openSync(path, 'a', 0o600);
      writeSync(fd, lineOf(id, value));
      lines++;
    } catch (err) {
      writable = false;
      shut();
      log.warn({ code: (err as NodeJS.ErrnoException).code, dir }, 'DATA_DIR is not writable: rotated credentials are kept in memory only');
    }
  }

  return {
    get: (id: string): StoredCredential | undefined => entries.get(key(id)),
    set(id: string, deviceId: string, secret: string, access?: string): void {
      const value = { deviceId, secret, ...(access ? { access } : {}), updatedAt: Date.now() };
      entries.set(key(id), value);
      persist(key(id), value);
    },
    /** Closes the file (the app's onClose). */
    close: shut,
  };
}

export type CredentialStore = ReturnType<typeof createCredentialStore>;

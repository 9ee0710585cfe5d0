import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

/**
 * Keeps the newest credentials of each account (the upstream rotates refresh tokens) in a JSON
 * file under DATA_DIR, so a restart resumes with them instead of a possibly revoked original.
 * Keyed by the fingerprint of the credential the user configured. Written atomically (temp file
 * + rename) with owner-only permissions; never logged. If the directory is not writable the
 * store keeps working in memory and says so once.
 */
export function createCredentialStore(dir: string, log: FastifyBaseLogger, namespace = '') {
  // Keyed by dialect + upstream base URL + account, so one upstream's tokens never reach another.
  const key = (id: string) => (namespace ? fingerprint(`${namespace}\n${id}`) : id);
  const path = join(dir, FILE);
  const entries = new Map<string, StoredCredential>();
  let writable = true;

  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, StoredCredential>;
    for (const [id, value] of Object.entries(data)) {
      if (value && typeof value.deviceId === 'string' && typeof value.secret === 'string') entries.set(id, value);
    }
    log.info({ accounts: entries.size }, 'loaded stored credentials');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ code: (err as NodeJS.ErrnoException).code }, `ignoring unreadable ${FILE}`);
  }

  function persist(): void {
    if (!writable) return;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(Object.fromEntries(entries)), { mode: 0o600 });
      renameSync(tmp, path);
    } catch (err) {
      writable = false;
      log.warn({ code: (err as NodeJS.ErrnoException).code, dir }, 'DATA_DIR is not writable: rotated credentials are kept in memory only');
    }
  }

  return {
    get: (id: string): StoredCredential | undefined => entries.get(key(id)),
    set(id: string, deviceId: string, secret: string, access?: string): void {
      entries.set(key(id), { deviceId, secret, ...(access ? { access } : {}), updatedAt: Date.now() });
      persist();
    },
  };
}

export type CredentialStore = ReturnType<typeof createCredentialStore>;

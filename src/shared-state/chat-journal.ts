import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Credential } from '../upstream/types.js';

/** An upstream chat that exists, with the account that can delete it. */
export interface JournalEntry {
  chatId: string;
  cred: Credential;
}

/**
 * The upstream chats that exist: written before a chat is used, removed once it is deleted, so
 * chats a dead process left behind can be found and deleted. `claimOrphans` hands over the
 * entries whose owner is gone; they become this process's own.
 */
export interface ChatJournal {
  add(cred: Credential, chatId: string): void;
  remove(chatId: string): void;
  /** Another process owns the chat now: forget it here without crossing it out. */
  disown(chatId: string): void;
  claimOrphans(): Promise<JournalEntry[]>;
  close(): Promise<void>;
}

const DIR = 'chat-journal';
const COMPACT_AFTER = 512;

type Line = { add: string; cred: Credential } | { del: string };

function alive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readEntries(path: string): Map<string, Credential> {
  const live = new Map<string, Credential>();
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    if (!text) continue;
    let line: Line;
    try {
      line = JSON.parse(text) as Line;
    } catch {
      continue; // a line cut by the crash
    }
    if ('add' in line) live.set(line.add, line.cred);
    else live.delete(line.del);
  }
  return live;
}

/**
 * The journal of one process in DATA_DIR/chat-journal/, one append-only file per process
 * (`<host>-<pid>-<random>.jsonl`, owner-only: it holds the refresh tokens needed to delete the
 * chats). A file whose process on this host is gone is claimed at start. When DATA_DIR is not
 * writable it says so once and journals nothing.
 */
export function createFileJournal(dataDir: string, log: FastifyBaseLogger): ChatJournal {
  const dir = join(dataDir, DIR);
  const host = hostname().replace(/[^\w.]/g, '_');
  const path = join(dir, `${host}-${process.pid}-${randomBytes(4).toString('hex')}.jsonl`);
  const live = new Map<string, Credential>();
  let writable = true;
  let lines = 0;
  /** Open for appending from the first line on (a directory check, an open and a close per line cost 2 % of a completion). */
  let fd: number | undefined;

  function shut(): void {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  }

  function write(text: string): void {
    if (!writable) return;
    try {
      if (fd === undefined) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        fd = openSync(path, 'a', 0o600);
      }
      // Synchronous: the line is in the file before the chat is used, whatever kills us next.
      writeSync(fd, text);
      lines += text.split('\n').length - 1;
    } catch (err) {
      writable = false;
      log.warn({ code: (err as NodeJS.ErrnoException).code, dir }, 'DATA_DIR is not writable: upstream chats are not journaled, a crash may leave some behind');
    }
  }

  function compact(): void {
    if (!writable || lines < COMPACT_AFTER || lines < 4 * live.size) return;
    try {
      const tmp = `${path}.tmp`;
      writeFileSync(tmp, [...live].map(([add, cred]) => `${JSON.stringify({ add, cred })}\n`).join(''), { mode: 0o600 });
      renameSync(tmp, path);
      // The open descriptor still points at the file just replaced.
      shut();
      lines = live.size;
    } catch (err) {
      log.warn({ code: (err as NodeJS.ErrnoException).code }, 'could not compact the chat journal');
    }
  }

  return {
    add(cred, chatId) {
      const { id, deviceId, secret, access } = cred;
      const kept: Credential = { id, deviceId, secret, ...(access ? { access } : {}) };
      live.set(chatId, kept);
      write(`${JSON.stringify({ add: chatId, cred: kept })}\n`);
    },
    remove(chatId) {
      if (!live.delete(chatId)) return;
      write(`${JSON.stringify({ del: chatId })}\n`);
      compact();
    },
    disown(chatId) {
      this.remove(chatId);
    },
    async claimOrphans() {
      let names: string[];
      try {
        names = readdirSync(dir).filter((n) => n.endsWith('.jsonl'));
      } catch {
        return [];
      }
      const claimed: JournalEntry[] = [];
      for (const name of names) {
        const file = join(dir, name);
        const [fileHost, pid] = name.split('-');
        if (file === path || fileHost !== host || alive(Number(pid))) continue;
        try {
          for (const [chatId, cred] of readEntries(file)) {
            this.add(cred, chatId);
            claimed.push({ chatId, cred });
          }
          rmSync(file, { force: true });
        } catch (err) {
          log.warn({ code: (err as NodeJS.ErrnoException).code, file: name }, 'could not read a chat journal left by another process');
        }
      }
      return claimed;
    },
    async close() {
      shut();
      if (live.size === 0) rmSync(path, { force: true });
    },
  };
}

/** No journal (tests of the in-process parts, or a journal that cannot be written). */
export const NO_JOURNAL: ChatJournal = {
  add: () => undefined,
  remove: () => undefined,
  disown: () => undefined,
  claimOrphans: async () => [],
  close: async () => undefined,
};

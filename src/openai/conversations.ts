import createError from '@fastify/error';
import { createHash, randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { ChatMessage } from '../../schemas/chat.js';
import type { ChatKeeping } from './completion.js';
import type { ConversationShare } from '../shared-state/conversation-share.js';
import type { InlineFiles } from '../attachments/inline-refs.js';
import { messageAttachments, messageText } from './prompt.js';
import type { Credential, OutgoingMessage } from '../upstream/types.js';

export const ConversationNotFoundError = createError('STEP_CONVERSATION_NOT_FOUND', 'Conversation %s is unknown or has expired', 404);
export const ConversationBusyError = createError('STEP_CONVERSATION_BUSY', 'Conversation %s is answering another request; retry when it is done', 409);

/** How upstream chats outlive a completion: matched by history, named by id, or never. */
export type ConversationMode = 'auto' | 'id' | 'off';

export interface ConversationOptions {
  mode: ConversationMode;
  ttlMs: number;
  /** Kept chats per account; the least recently used goes first. */
  maxKept: number;
  /** Deletes an upstream chat in the background; never throws. */
  discardChat(cred: Credential, chatId: string): void;
  log: FastifyBaseLogger;
  /** Kept chats shared with other replicas (REDIS_URL): turn 2 may land on any of them. */
  share?: ConversationShare;
  /** A chat another replica kept is now this one's (its journal entry moves here). */
  adopt?(cred: Credential, chatId: string): void;
  /** Another replica took a chat this one kept: forget it without deleting it. */
  handOver?(chatId: string): void;
}

/** A kept upstream chat, between two turns. */
interface Kept {
  cred: Credential;
  chatId: string;
  /** Lookup keys: the history hash (auto) or the conversation's reply ids (id). */
  keys: string[];
  timer?: NodeJS.Timeout;
  /** This keeping, as the shared store knows it (REDIS_URL). */
  stamp?: string;
}

export interface BeginInput {
  /** Who asks: the API key or token set, so nobody continues another caller's chat. */
  caller: string;
  messages: ChatMessage[];
  conversationId?: string | undefined;
  creds: Credential[];
  /** This reply's id, which continues the conversation in `id` mode. */
  completionId: string;
  /** Data URLs the body's parser took out (their digests are known): plugins/json-body.ts. */
  inline?: InlineFiles | undefined;
}

/** One request's part in a conversation: the upstream chat it continues and what it leaves behind. */
export interface ConversationTurn {
  /** The hook runCompletion takes: the chat to continue and who takes it over afterwards. */
  keeping(message: OutgoingMessage): ChatKeeping;
  /** The text that went upstream: only the new turn when a chat was continued. */
  sentText(flattened: string): string;
  /** The answer as the client got it when it ended on its own; undefined when cut, failed or never run. */
  finish(answer: string | undefined): void;
}

/** Attachment URLs from this length on (data URLs) enter a history's key as their own hash. */
const LONG_URL = 64 * 1024;
const SLICE = 256 * 1024;

function canonical(messages: ChatMessage[], long: Map<string, string>): unknown[] {
  return messages.map((m, i) => [m.role, messageText(m.content, `messages[${i}]`), messageAttachments(m.content).map((a) => long.get(a.url) ?? a.url)]);
}

/**
 * The hashes of the long attachment URLs in `messages`, each taken 256 KiB at a time with the
 * event loop free in between: hashing a 60 MB data URL at once blocked it for about 150 ms.
 */
async function longUrlDigests(messages: ChatMessage[], inline: InlineFiles | undefined): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const m of messages) {
    for (const { url } of messageAttachments(m.content)) {
      // Taken out of the body as it arrived: hashed then, as this would hash the URL it replaced.
      const taken = inline?.find(url);
      if (taken) out.set(url, taken.digest);
      if (taken || url.length < LONG_URL || out.has(url)) continue;
      const hash = createHash('sha256');
      for (let at = 0; at < url.length; ) {
        let end = Math.min(url.length, at + SLICE);
        // Never between the two halves of a surrogate pair (each half alone would encode as U+FFFD).
        const last = url.charCodeAt(end - 1);
        if (end < url.length && last >= 0xd800 && last <= 0xdbff) end++;
        hash.update(url.slice(at, end));
        at = end;
        await new Promise((resolve) => setImmediate(resolve));
      }
      out.set(url, `sha256:${hash.digest('base64url')}`);
    }
  }
  return out;
}

function digest(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

/** A hash of the caller; the raw key or token never stays in memory as a map key. */
export function callerKey(authorization: string | undefined): string {
  return createHash('sha256').update(authorization ?? '').digest('base64url');
}

/** A turn outside any conversation: a fresh chat, deleted after. */
export const NO_CONVERSATION: ConversationTurn = {
  keeping: () => ({}),
  sentText: (flattened) => flattened,
  finish: () => undefined,
};

/**
 * Keeps upstream chats between turns so a conversation continues where it was, instead of
 * flattening the history into a fresh chat. Every kept chat is deleted after `ttlMs` of idleness,
 * when its account holds more than `maxKept`, when its account fails, and at `close()`.
 */
export function createConversations(opts: ConversationOptions) {
  const byKey = new Map<string, Kept>();
  /** Per account, in least-recently-used order. */
  const byAccount = new Map<string, Set<Kept>>();
  /** Taken out of the store while a request continues them. */
  const inUse = new Set<Kept>();
  let closed = false;

  function unlink(kept: Kept): void {
    clearTimeout(kept.timer);
    for (const key of kept.keys) if (byKey.get(key) === kept) byKey.delete(key);
    const set = byAccount.get(kept.cred.id);
    set?.delete(kept);
    if (set?.size === 0) byAccount.delete(kept.cred.id);
  }

  const claims = new Set<Promise<void>>();

  function drop(kept: Kept, why: string): void {
    unlink(kept);
    const discard = () => {
      opts.log.debug({ account: kept.cred.id, chatId: kept.chatId, why }, 'kept upstream chat deleted');
      opts.discardChat(kept.cred, kept.chatId);
    };
    if (!opts.share) return discard();
    // Only the replica that still holds the claim may delete it; another one may be continuing it.
    const job = opts.share
      .claim(kept.chatId, kept.stamp ?? '')
      .then((mine) => (mine ? discard() : opts.handOver?.(kept.chatId)))
      .finally(() => claims.delete(job));
    claims.add(job);
  }

  function keep(kept: Kept): void {
    if (closed || opts.maxKept === 0) return opts.discardChat(kept.cred, kept.chatId);
    for (const key of kept.keys) {
      const previous = byKey.get(key);
      if (previous && previous !== kept) drop(previous, 'replaced');
      byKey.set(key, kept);
    }
    let set = byAccount.get(kept.cred.id);
    if (!set) byAccount.set(kept.cred.id, (set = new Set()));
    set.add(kept);
    while (set.size > opts.maxKept) drop(set.values().next().value!, 'least recently used');
    if (opts.share) {
      kept.stamp = randomUUID();
      void opts.share.put({ cred: kept.cred, chatId: kept.chatId, keys: kept.keys, stamp: kept.stamp }, opts.ttlMs);
    }
    kept.timer = setTimeout(() => drop(kept, 'idle'), opts.ttlMs);
    kept.timer.unref();
  }

  /** The kept chat under `key`: this replica's, or one another replica kept; claimed so nobody else continues it. */
  async function lookup(key: string): Promise<Kept | undefined> {
    const local = byKey.get(key);
    if (!opts.share) return local;
    if (local) {
      if (await opts.share.claim(local.chatId, local.stamp ?? '')) return local;
      // Another replica continued it meanwhile.
      unlink(local);
      opts.handOver?.(local.chatId);
    }
    const shared = await opts.share.claimByKey(key);
    if (!shared) return undefined;
    opts.adopt?.(shared.cred, shared.chatId);
    // An older keeping of this chat here is stale now.
    for (const k of byAccount.get(shared.cred.id) ?? []) if (k.chatId === shared.chatId) unlink(k);
    return { cred: shared.cred, chatId: shared.chatId, keys: shared.keys };
  }

  /** The kept chat a request continues, taken out of the store while it answers. */
  async function take(input: BeginInput, long: Map<string, string>): Promise<{ kept?: Kept; newTurn?: ChatMessage }> {
    const last = input.messages.length - 1;
    const newTurn = input.messages[last];
    if (opts.mode === 'id') {
      if (!input.conversationId) return {};
      const key = `${input.caller}:${input.conversationId}`;
      if (newTurn?.role !== 'user') {
        if (byKey.has(key) || (await opts.share?.has(key))) return {};
      } else {
        const kept = await lookup(key);
        if (kept) return { kept, newTurn };
      }
      const busy = [...inUse].some((k) => k.keys.includes(key));
      if (busy) throw new ConversationBusyError(input.conversationId);
      throw new ConversationNotFoundError(input.conversationId);
    }
    if (newTurn?.role !== 'user' || last === 0) return {};
    return { kept: await lookup(digest([input.caller, ...canonical(input.messages.slice(0, last), long)])), newTurn };
  }

  /** Looks the request up; in `id` mode an unknown conversation_id is a 404. */
  async function begin(input: BeginInput): Promise<ConversationTurn> {
    if (opts.mode === 'off') return NO_CONVERSATION;
    const long = opts.mode === 'auto' ? await longUrlDigests(input.messages, input.inline) : new Map<string, string>();
    const found = await take(input, long);
    const ours = found.kept && input.creds.some((c) => c.id === found.kept!.cred.id);
    // Claimed but not this caller's accounts: it stays kept for its own.
    if (found.kept && !ours && opts.share) {
      unlink(found.kept);
      keep(found.kept);
    }
    if (found.kept && !ours && opts.mode === 'id') throw new ConversationNotFoundError(input.conversationId);
    const resumed = ours ? found.kept : undefined;
    if (resumed) {
      unlink(resumed);
      inUse.add(resumed);
    }
    let sent = false;
    /** Chats runCompletion is done with; a completed one waits for the answer to be known. */
    const releasedIds = new Set<string>();
    let released: { cred: Credential; chatId: string } | undefined;
    let answer: string | undefined;
    let finished = false;

    const settle = (): void => {
      if (!finished) return;
      // Never sent into (the request failed before): it stays as it was.
      if (resumed && inUse.delete(resumed) && !releasedIds.has(resumed.chatId)) keep(resumed);
      if (!released) return;
      const { cred, chatId } = released;
      released = undefined;
      if (answer === undefined) return opts.discardChat(cred, chatId);
      const history = [...input.messages, { role: 'assistant' as const, content: answer }];
      const keys =
        opts.mode === 'id'
          ? [...(resumed?.chatId === chatId ? resumed.keys : []), `${input.caller}:${input.completionId}`]
          : [digest([input.caller, ...canonical(history, long)])];
      keep({ cred, chatId, keys });
    };

    return {
      keeping(message) {
        return {
          ...(resumed && found.newTurn
            ? {
                continued: {
                  cred: resumed.cred,
                  chatId: resumed.chatId,
                  message: { ...message, text: messageText(found.newTurn.content, `messages[${input.messages.length - 1}]`).trim() },
                },
              }
            : {}),
          started(chatId) {
            sent = resumed?.chatId === chatId;
          },
          release(cred, chatId, complete) {
            releasedIds.add(chatId);
            if (!complete) return opts.discardChat(cred, chatId);
            released = { cred, chatId };
            settle();
          },
        };
      },
      sentText: (flattened) => (sent && found.newTurn ? messageText(found.newTurn.content, 'messages').trim() : flattened),
      finish(given) {
        if (finished) return;
        finished = true;
        answer = given;
        settle();
      },
    };
  }

  /** The account failed: its kept chats go (their deletion may fail too; nothing else can be done). */
  function forgetAccount(cred: Credential): void {
    for (const kept of [...(byAccount.get(cred.id) ?? [])]) drop(kept, 'account failed');
  }

  /** Deletes every kept chat and keeps no more (shutdown); resolves once each deletion is under way. */
  async function close(): Promise<void> {
    closed = true;
    for (const set of [...byAccount.values()]) for (const kept of [...set]) drop(kept, 'shutdown');
    while (claims.size > 0) await Promise.allSettled([...claims]);
  }

  return { mode: opts.mode, begin, forgetAccount, close, stats: () => ({ kept: [...byAccount.values()].reduce((n, s) => n + s.size, 0), inUse: inUse.size }) };
}

export type Conversations = ReturnType<typeof createConversations>;

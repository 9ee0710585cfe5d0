import { FLAG_END_STREAM } from '../connect-codec.js';
import { brief, UpstreamAuthError, UpstreamError } from '../errors.js';
import type { Http } from './http.js';
import { accessExpiry, browserHeaders } from './session.js';
import type { Credential, Dialect, OutgoingMessage, SearchResult, Session, UpstreamEvent } from './types.js';
import { createYuewenFiles } from './yuewen-files.js';

export const YUEWEN_BASE_URL = 'https://yuewen.cn';

const PASSPORT = '/passport/proto.api.passport.v1.PassportService';
const CHAT = '/api/proto.chat.v1.ChatService';
const MESSAGE = '/api/proto.chat.v1.ChatMessageService';

interface TokenPair {
  accessToken?: { raw?: string };
  refreshToken?: { raw?: string };
}

/** The legacy yuewen.cn dialect of PROTOCOL.md. */
export function createYuewenDialect(http: Http, opts: { accessTtlMs: number }): Dialect {
  const base = browserHeaders(http.origin, { 'oasis-mode': '2' });

  async function login(cred: Credential, signal?: AbortSignal): Promise<Session> {
    const headers = { ...base, 'oasis-webid': cred.deviceId, cookie: `Oasis-Token=${cred.secret}; Oasis-Webid=${cred.deviceId}` };
    const reply = await http.unary<TokenPair>(`${PASSPORT}/RegisterDevice`, headers, {}, 'RegisterDevice', signal);
    const access = reply.accessToken?.raw;
    const refresh = reply.refreshToken?.raw ?? cred.secret;
    if (!access) throw new UpstreamError('RegisterDevice returned no access token');
    return {
      headers: { ...base, 'oasis-webid': cred.deviceId, cookie: `Oasis-Token=${access}...${refresh}; Oasis-Webid=${cred.deviceId}` },
      expiresAt: accessExpiry(access, opts.accessTtlMs),
    };
  }

  async function createChat(session: Session, signal?: AbortSignal): Promise<string> {
    const reply = await http.unary<{ chatId?: string }>(`${CHAT}/CreateChat`, session.headers, { chatName: '新话题' }, 'CreateChat', signal);
    if (!reply.chatId) throw new UpstreamError('CreateChat returned no chatId');
    return String(reply.chatId);
  }

  async function deleteChat(session: Session, chatId: string, signal?: AbortSignal): Promise<void> {
    await http.unary(`${CHAT}/DelChat`, session.headers, { chatIds: [chatId] }, 'DelChat', signal);
  }

  async function* sendMessage(session: Session, chatId: string, message: OutgoingMessage, signal?: AbortSignal): AsyncGenerator<UpstreamEvent> {
    const messageInfo: Record<string, unknown> = { text: message.text };
    if (message.attachments.length > 0) messageInfo.attachments = message.attachments;
    const envelopes = await http.stream(`${MESSAGE}/SendMessageStream`, session.headers, { chatId, messageInfo }, 'SendMessageStream', signal);
    let events = 0;
    let sawDone = false;
    for await (const { flags, data } of envelopes) {
      const msg = (data ?? {}) as Record<string, any>;
      if (flags & FLAG_END_STREAM) {
        if (msg.error) throw streamError(msg.error, events === 0);
        yield { type: 'done' };
        return;
      }
      events++;
      if (msg.textEvent) {
        const text = msg.textEvent.text;
        if (typeof text === 'string' && text !== '') yield { type: 'text', text };
      } else if (msg.pipelineEvent?.eventSearch) {
        const results = searchResults(msg.pipelineEvent.eventSearch.results);
        if (results.length > 0) yield { type: 'search', results };
      } else if (msg.doneEvent) {
        sawDone = true;
      } else if (msg.error) {
        throw streamError(msg.error, false);
      }
      // startEvent, heartBeatEvent and unknown events carry nothing for the client.
    }
    // Tolerate a server that ends after doneEvent without the Connect trailer.
    if (sawDone) {
      yield { type: 'done' };
      return;
    }
    throw new UpstreamError('SendMessageStream ended without an end-of-stream trailer');
  }

  return { name: 'yuewen', login, createChat, sendMessage, deleteChat, ...createYuewenFiles(http) };
}

function streamError(error: { code?: unknown; message?: unknown }, beforeAnyEvent: boolean): Error {
  const detail = `SendMessageStream ${String(error.code ?? 'error')}: ${brief(error.message ?? '')}`;
  // Only an auth failure before anything was streamed is worth a refresh and retry.
  if (beforeAnyEvent && error.code === 'unauthenticated') return new UpstreamAuthError(detail);
  return new UpstreamError(detail);
}

/** Normalizes search results from either dialect; entries without a URL are dropped. */
export function searchResults(raw: unknown): SearchResult[] {
  if (!Array.isArray(raw)) return [];
  const out: SearchResult[] = [];
  for (const r of raw) {
    if (!r || typeof r.url !== 'string' || r.url === '') continue;
    out.push({ url: r.url, title: typeof r.title === 'string' && r.title ? r.title : r.url, snippet: typeof r.snippet === 'string' ? r.snippet : undefined });
  }
  return out;
}

import { oasisCookie } from '../accounts/credentials.js';
import { UpstreamError } from '../errors.js';
import { headerSecrets } from '../scrub.js';
import type { Drift } from './drift.js';
import { readEventStream, searchEvent, sourcesOf, textEvent } from './events.js';
import { isAuxiliaryFailure, type Http } from './http.js';
import { browserHeaders, refreshedSession, type TokenPair } from './session.js';
import type { Credential, Dialect, OutgoingMessage, Session, UpstreamEvent } from './types.js';
import { createYuewenFiles } from './yuewen-files.js';

export const YUEWEN_BASE_URL = 'https://yuewen.cn';

const PASSPORT = '/passport/proto.api.passport.v1.PassportService';
const CHAT = '/api/proto.chat.v1.ChatService';
const MESSAGE = '/api/proto.chat.v1.ChatMessageService';
const USER = '/api/proto.user.v1.UserService';
/** The event kinds of PROTOCOL.md; any other `…Event` is drift, ignored and reported. */
const YUEWEN_EVENTS = new Set(['startEvent', 'textEvent', 'pipelineEvent', 'heartBeatEvent', 'doneEvent', 'riskEvent', 'sourcingEvent']);

/**
 * The legacy yuewen.cn dialect of PROTOCOL.md. Web search is an account setting there, switched
 * with EnableSearch/DisableSearch when a request wants the other state than the account last had;
 * the model is chosen in the web app only (requests' model names are not sent).
 */
export function createYuewenDialect(http: Http, opts: { accessTtlMs: number; drift?: Drift }): Dialect {
  const base = browserHeaders(http.origin, { 'oasis-mode': '2' });
  const withDevice = (deviceId: string, token: string) => ({ ...base, 'oasis-webid': deviceId, cookie: `Oasis-Token=${token}; Oasis-Webid=${deviceId}` });
  /** Last search state set per account (unknown until this process set it). */
  const searchState = new Map<string, boolean>();

  async function login(cred: Credential, signal?: AbortSignal): Promise<Session> {
    const what = 'RegisterDevice';
    const reply = await http.unaryWithCookies<TokenPair>(`${PASSPORT}/RegisterDevice`, withDevice(cred.deviceId, oasisCookie(cred)), {}, what, signal);
    return refreshedSession(cred, reply, withDevice, { accessTtlMs: opts.accessTtlMs, what });
  }

  async function createChat(session: Session, signal?: AbortSignal): Promise<string> {
    const reply = await http.unary<{ chatId?: string }>(`${CHAT}/CreateChat`, session.headers, { chatName: '新话题' }, 'CreateChat', signal);
    if (!reply.chatId) throw new UpstreamError('CreateChat returned no chatId');
    return String(reply.chatId);
  }

  async function deleteChat(session: Session, chatId: string, signal?: AbortSignal): Promise<void> {
    await http.unary(`${CHAT}/DelChat`, session.headers, { chatIds: [chatId] }, 'DelChat', signal);
  }

  async function applySearch(session: Session, search: boolean | undefined, signal?: AbortSignal): Promise<void> {
    if (search === undefined || searchState.get(session.account) === search) return;
    const call = search ? 'EnableSearch' : 'DisableSearch';
    try {
      await http.unary(`${USER}/${call}`, session.headers, {}, call, signal);
    } catch (err) {
      // An account setting, not the answer: a renamed or failing switch leaves the search state as it was.
      if (!isAuxiliaryFailure(err)) throw err;
      opts.drift?.auxiliaryFailed(call, err);
      return;
    }
    searchState.set(session.account, search);
  }

  async function sendMessage(session: Session, chatId: string, message: OutgoingMessage, signal?: AbortSignal): Promise<AsyncIterable<UpstreamEvent[]>> {
    await applySearch(session, message.search, signal);
    const messageInfo: Record<string, unknown> = { text: message.text };
    if (message.attachments.length > 0) messageInfo.attachments = message.attachments;
    const what = 'SendMessageStream';
    const envelopes = await http.stream(`${MESSAGE}/SendMessageStream`, session.headers, { chatId, messageInfo }, what, signal, message.gatherMs);
    return readEventStream(envelopes, what, (msg) => {
      if (msg.textEvent) return textEvent('text', msg.textEvent.text);
      if (msg.pipelineEvent?.eventSearch) return searchEvent(msg.pipelineEvent.eventSearch.results);
      if (msg.riskEvent) return { type: 'filtered' };
      if (msg.sourcingEvent) return searchEvent(sourcesOf(msg.sourcingEvent));
      if (msg.doneEvent) return 'done';
      // startEvent and heartBeatEvent carry nothing for the client; other keys than `…Event` are fields.
      for (const name of Object.keys(msg)) if (name.endsWith('Event') && !YUEWEN_EVENTS.has(name)) opts.drift?.unknownEvent(name);
      return undefined;
    }, headerSecrets(session.headers));
  }

  return {
    name: 'yuewen',
    defaultModel: 'step',
    fallbackModels: ['step', 'step-vision'],
    login,
    createChat,
    sendMessage,
    deleteChat,
    ...createYuewenFiles(http),
  };
}

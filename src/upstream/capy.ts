import { oasisCookie } from '../accounts/credentials.js';
import { brief, UpstreamAuthError, UpstreamError } from '../errors.js';
import { headerSecrets } from '../scrub.js';
import { createCapyFiles } from './capy-files.js';
import type { Drift } from './drift.js';
import { readEventStream, searchEvent, sourcesOf, textEvent, type Mapped, type UpstreamMessage } from './events.js';
import type { Http } from './http.js';
import { browserHeaders, jwtPayload, refreshedSession, type TokenPair } from './session.js';
import type { Credential, Dialect, OutgoingMessage, Session, UpstreamEvent, UpstreamModel } from './types.js';

export const CAPY_BASE_URL = 'https://www.stepfun.com';

const PASSPORT = '/passport/proto.api.passport.v1.PassportService';
/** The event kinds of PROTOCOL.md; any other is drift, ignored and reported. */
const CAPY_EVENTS = new Set([
  'startEvent', 'messageEvent', 'pipelineEvent', 'reasoningEvent', 'textEvent', 'heartBeatEvent',
  'messageDoneEvent', 'doneEvent', 'errorEvent', 'riskEvent', 'sourcingEvent',
]);
const AGENT = '/api/agent/capy.agent.v1.AgentService';

/** The current stepfun.com web API (`capy.agent.v1.AgentService`) of PROTOCOL.md. */
export function createCapyDialect(http: Http, opts: { accessTtlMs: number; drift?: Drift }): Dialect {
  const base = browserHeaders(http.origin, { 'oasis-language': 'zh', canary: 'false' });
  const withDevice = (deviceId: string, token: string) => ({ ...base, 'oasis-webid': deviceId, cookie: `Oasis-Token=${token}; Oasis-Webid=${deviceId}` });

  async function login(cred: Credential, signal?: AbortSignal): Promise<Session> {
    const what = 'RefreshToken';
    const reply = await http.unaryWithCookies<TokenPair>(`${PASSPORT}/RefreshToken`, withDevice(cred.deviceId, oasisCookie(cred)), {}, what, signal);
    const session = refreshedSession(cred, reply, withDevice, { accessTtlMs: opts.accessTtlMs, what });
    // Bad credentials still get 200, with a guest token: such a token is dead, never use it.
    if (jwtPayload(session.access!)?.activated === false) throw new UpstreamAuthError('RefreshToken answered with a guest token (the account token is invalid or revoked)');
    return session;
  }

  async function createChat(session: Session, signal?: AbortSignal): Promise<string> {
    const reply = await http.unary<{ chatSession?: { chatSessionId?: string } }>(`${AGENT}/CreateChatSession`, session.headers, {}, 'CreateChatSession', signal);
    const id = reply.chatSession?.chatSessionId;
    if (!id) throw new UpstreamError('CreateChatSession returned no chatSessionId');
    return String(id);
  }

  async function deleteChat(session: Session, chatSessionId: string, signal?: AbortSignal): Promise<void> {
    await http.unary(`${AGENT}/DeleteChatSession`, session.headers, { chatSessionId }, 'DeleteChatSession', signal);
  }

  async function listModels(session: Session, signal?: AbortSignal): Promise<UpstreamModel[]> {
    const reply = await http.unary<{ modelList?: { model?: string; description?: string }[] }>(`${AGENT}/GetChatConfig`, session.headers, {}, 'GetChatConfig', signal);
    return (reply.modelList ?? []).filter((m) => typeof m.model === 'string' && m.model).map((m) => ({ id: m.model!, description: m.description }));
  }

  async function sendMessage(session: Session, chatSessionId: string, message: OutgoingMessage, signal?: AbortSignal): Promise<AsyncIterable<UpstreamEvent[]>> {
    const qa: Record<string, unknown> = { content: message.text };
    if (message.attachments.length > 0) qa.attachments = message.attachments;
    // `config` must be a sibling of `message`: nested inside it the upstream ignores it.
    const body = {
      message: { chatSessionId, content: { userMessage: { qa } } },
      config: { model: message.model, enableReasoning: message.reasoning === true, enableSearch: message.search === true },
    };
    const what = 'ChatStream';
    const envelopes = await http.stream(`${AGENT}/ChatStream`, session.headers, body, what, signal, message.gatherMs);
    const secrets = headerSecrets(session.headers);
    const mapEvent = (msg: UpstreamMessage): Mapped => {
      const event = msg.data?.event;
      if (!event) return undefined;
      if (event.textEvent) return textEvent('text', event.textEvent.text);
      if (event.reasoningEvent) return textEvent('reasoning', event.reasoningEvent.text);
      if (event.pipelineEvent?.eventSearch) return searchEvent(event.pipelineEvent.eventSearch.results);
      if (event.errorEvent) throw new UpstreamError(`ChatStream error event: ${brief(event.errorEvent.message ?? 'unknown', 200, secrets)}`);
      if (event.riskEvent) return { type: 'filtered' };
      if (event.sourcingEvent) return searchEvent(sourcesOf(event.sourcingEvent));
      if (event.doneEvent) return 'done';
      // startEvent, messageEvent, heartBeatEvent, messageDoneEvent carry nothing for the client.
      for (const name of Object.keys(event)) if (!CAPY_EVENTS.has(name)) opts.drift?.unknownEvent(name);
      return undefined;
    };
    return readEventStream(envelopes, what, mapEvent, secrets);
  }

  return {
    name: 'capy',
    defaultModel: 'step-auto',
    fallbackModels: ['step-auto', 'step-2-16k', 'step3.5-flash', 'deepseek-r1'],
    login,
    createChat,
    sendMessage,
    deleteChat,
    listModels,
    ...createCapyFiles(http),
  };
}

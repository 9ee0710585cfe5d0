import { Agent } from 'undici';
import { browserHeaders as gatewayHeaders } from '../../src/upstream/session.js';

// The baseline client: the three upstream calls a completion needs, made straight against the
// emulator with nothing else (no validation, no logging, no translation). Written here rather than
// imported from src/ so that it measures the floor, not the gateway's own code; only the constant
// browser header set is shared, so both send the same bytes.

/** The upstream dialects the emulator and the service speak. */
export type Dialect = 'capy' | 'yuewen';

const YUEWEN_CHAT = '/api/proto.chat.v1.ChatService';
const CAPY = '/api/agent/capy.agent.v1.AgentService';
const PASSPORT = '/passport/proto.api.passport.v1.PassportService';

// Paths and bodies of the three per-completion calls, per dialect (PROTOCOL.md).
const CALLS = {
  yuewen: {
    login: `${PASSPORT}/RegisterDevice`,
    extraHeaders: { 'oasis-mode': '2' },
    create: { path: `${YUEWEN_CHAT}/CreateChat`, body: { chatName: '新话题' }, id: (r: any): string => r.chatId },
    send: {
      path: '/api/proto.chat.v1.ChatMessageService/SendMessageStream',
      body: (chatId: string, text: string) => ({ chatId, messageInfo: { text } }),
      text: (m: any): string | undefined => m.textEvent?.text,
    },
    del: { path: `${YUEWEN_CHAT}/DelChat`, body: (chatId: string) => ({ chatIds: [chatId] }) },
  },
  capy: {
    login: `${PASSPORT}/RefreshToken`,
    extraHeaders: { 'oasis-language': 'zh', canary: 'false' },
    create: { path: `${CAPY}/CreateChatSession`, body: {}, id: (r: any): string => r.chatSession?.chatSessionId },
    send: {
      path: `${CAPY}/ChatStream`,
      body: (chatSessionId: string, text: string) => ({
        message: { chatSessionId, content: { userMessage: { qa: { content: text } } } },
        config: { model: 'step-auto', enableReasoning: false, enableSearch: false },
      }),
      text: (m: any): string | undefined => m.data?.event?.textEvent?.text,
    },
    del: { path: `${CAPY}/DeleteChatSession`, body: (chatSessionId: string) => ({ chatSessionId }) },
  },
} as const;

// The same header set the gateway sends, so the emulator does the same work for both.
function browserHeaders(origin: string, dialect: Dialect, deviceId: string, cookie: string): Record<string, string> {
  return { ...gatewayHeaders(origin, CALLS[dialect].extraHeaders), 'oasis-webid': deviceId, cookie };
}

function envelope(body: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(body));
  const out = Buffer.allocUnsafe(5 + json.length);
  out[0] = 0;
  out.writeUInt32BE(json.length, 1);
  json.copy(out, 5);
  return out;
}

/** What one baseline completion saw. */
export interface UpstreamResult {
  ttftMs: number;
  text: string;
}

/** A logged-in direct client of the emulator, as a minimal relay would hold it. */
export async function createUpstreamClient(url: string, token: string, dialect: Dialect, agent = new Agent({ keepAliveTimeout: 30_000 })) {
  const origin = new URL(url).origin;
  const calls = CALLS[dialect];
  const at = token.indexOf('@');
  const deviceId = token.slice(0, at);
  const userToken = token.slice(at + 1);
  const login = await agent.request({
    origin,
    path: calls.login,
    method: 'POST',
    headers: { ...browserHeaders(origin, dialect, deviceId, `Oasis-Token=${userToken}; Oasis-Webid=${deviceId}`), 'content-type': 'application/json' },
    body: '{}',
  });
  const tokens = (await login.body.json()) as { accessToken?: { raw?: string }; refreshToken?: { raw?: string } };
  if (login.statusCode !== 200 || !tokens.accessToken?.raw) throw new Error(`${calls.login} answered ${login.statusCode}`);
  const refresh = tokens.refreshToken?.raw || userToken;
  const session = browserHeaders(origin, dialect, deviceId, `Oasis-Token=${tokens.accessToken.raw}...${refresh}; Oasis-Webid=${deviceId}`);
  const jsonHeaders = { ...session, 'content-type': 'application/json' };
  const streamHeaders = { ...session, 'content-type': 'application/connect+json' };
  const deletions = new Set<Promise<void>>();

  async function unary(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await agent.request({ origin, path, method: 'POST', headers: jsonHeaders, body: JSON.stringify(body) });
    const json = (await res.body.json()) as Record<string, unknown>;
    if (res.statusCode !== 200) throw new Error(`${path} answered ${res.statusCode}`);
    return json;
  }

  /**
   * Create a chat → stream the message (envelopes decoded) → delete the chat in the background,
   * like the gateway; `onText` sees each upstream text event as it is decoded (the bare relay).
   */
  async function complete(text: string, started: number, onText?: (piece: string) => void): Promise<UpstreamResult> {
    const chatId = calls.create.id(await unary(calls.create.path, calls.create.body));
    try {
      const res = await agent.request({ origin, path: calls.send.path, method: 'POST', headers: streamHeaders, body: envelope(calls.send.body(chatId, text)) });
      if (res.statusCode !== 200) throw new Error(`${calls.send.path} answered ${res.statusCode}`);
      let pending = Buffer.alloc(0);
      let ttftMs = -1;
      let answer = '';
      let ended = false;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        let off = 0;
        while (buf.length - off >= 5) {
          const len = buf.readUInt32BE(off + 1);
          if (buf.length - off < 5 + len) break;
          const flags = buf[off]!;
          const msg = JSON.parse(buf.toString('utf8', off + 5, off + 5 + len)) as { error?: unknown };
          off += 5 + len;
          if (flags & 2) {
            if (msg.error) throw new Error('stream ended with an error trailer');
            ended = true;
            continue;
          }
          const piece = calls.send.text(msg);
          if (piece) {
            if (ttftMs < 0) ttftMs = performance.now() - started;
            answer += piece;
            onText?.(piece);
          }
        }
        pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
      }
      if (!ended) throw new Error('stream ended without a trailer');
      return { ttftMs, text: answer };
    } finally {
      const job = unary(calls.del.path, calls.del.body(chatId)).then(
        () => undefined,
        () => undefined,
      );
      deletions.add(job);
      void job.finally(() => deletions.delete(job));
    }
  }

  return {
    complete,
    /** Waits for the background deletions. */
    drain: async (): Promise<void> => {
      while (deletions.size > 0) await Promise.allSettled([...deletions]);
    },
    close: () => agent.close(),
  };
}

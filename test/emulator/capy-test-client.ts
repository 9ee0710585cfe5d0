import assert from 'node:assert/strict';
import { CAPY_PATHS } from './capy.js';
import type { Emulator } from './index.js';
import { webHeaders } from './web-headers.js';

// A bare capy wire client for capy.test.ts: plain fetch and an envelope decoder
// of its own, so the emulator is checked the way the gateway's client meets it.

/** An event as decoded: its one key and its value. */
export type CapyEvent = [string, Record<string, unknown>];

export interface Envelope {
  flag: number;
  body: Record<string, unknown>;
}

export interface Session {
  deviceId: string;
  cookie: string;
}

export interface Pair {
  accessToken: { raw: string };
  refreshToken: { raw: string };
}

/** The headers the web app sends on every call to `origin` (the cookie comes on top). */
export function oasisHeaders(origin: string, deviceId: string, contentType = 'application/json'): Record<string, string> {
  return { 'content-type': contentType, ...webHeaders('capy', origin, deviceId) };
}

export function jwtPayload(raw: string): Record<string, unknown> {
  const part = raw.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

// A copy typed over a plain ArrayBuffer, which fetch's BodyInit accepts under both DOM and Node typings.
function envelope(body: unknown): Uint8Array<ArrayBuffer> {
  const json = Buffer.from(JSON.stringify(body));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(json.length, 1);
  return new Uint8Array(Buffer.concat([head, json]));
}

/** A ChatStream request with `config` where it counts, beside `message`. */
export function ask(chatSessionId: string, content: string, config?: object): object {
  return { message: { chatSessionId, content: { userMessage: { qa: { content } } } }, ...(config && { config }) };
}

/** Reads a whole stream reply, buffering across reads. */
export async function readEnvelopes(res: Response): Promise<Envelope[]> {
  const out: Envelope[] = [];
  let buf = Buffer.alloc(0);
  for await (const chunk of res.body!) {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const end = 5 + buf.readUInt32BE(1);
      out.push({ flag: buf[0]!, body: JSON.parse(buf.subarray(5, end).toString('utf8')) });
      buf = buf.subarray(end);
    }
  }
  assert.equal(buf.length, 0, 'stream ended inside an envelope');
  return out;
}

/** The events of the message envelopes, each checked to be `{"data":{"event":{<one key>}}}`. */
export function events(envelopes: Envelope[]): CapyEvent[] {
  return envelopes
    .filter((e) => e.flag === 0)
    .map((e) => {
      const event = (e.body.data as { event: Record<string, Record<string, unknown>> }).event;
      const keys = Object.keys(event);
      assert.equal(keys.length, 1, JSON.stringify(e.body));
      return [keys[0]!, event[keys[0]!]!];
    });
}

const KNOWN = new Set([
  'startEvent',
  'messageEvent',
  'pipelineEvent',
  'reasoningEvent',
  'textEvent',
  'messageDoneEvent',
  'doneEvent',
  'errorEvent',
]);

/** Events a client acts on: heartbeats and unknown kinds dropped, as a client must. */
export function known(envelopes: Envelope[]): CapyEvent[] {
  return events(envelopes).filter(([kind]) => KNOWN.has(kind));
}

/** The `text` of every event of one kind. */
export function textsOf(evs: CapyEvent[], kind: string): string[] {
  return evs.filter(([k]) => k === kind).map(([, e]) => e.text as string);
}

/** Calls against one emulator; a getter, so a test can bind them before `before()` starts it. */
export function capyClient(emulator: () => Pick<Emulator, 'url' | 'addAccount'>) {
  async function refresh(deviceId: string, oasisToken: string): Promise<Pair> {
    const res = await fetch(emulator().url + CAPY_PATHS.refreshToken, {
      method: 'POST',
      headers: { ...oasisHeaders(emulator().url, deviceId), cookie: `Oasis-Token=${oasisToken}; Oasis-Webid=${deviceId}` },
      body: '{}',
    });
    assert.equal(res.status, 200);
    return (await res.json()) as Pair;
  }

  async function login(): Promise<Session> {
    const { deviceId, userToken } = emulator().addAccount();
    const pair = await refresh(deviceId, userToken);
    return { deviceId, cookie: `Oasis-Token=${pair.accessToken.raw}...${pair.refreshToken.raw}; Oasis-Webid=${deviceId}` };
  }

  function unary(s: Session, path: string, body: unknown): Promise<Response> {
    return fetch(emulator().url + path, {
      method: 'POST',
      headers: { ...oasisHeaders(emulator().url, s.deviceId), cookie: s.cookie },
      body: JSON.stringify(body),
    });
  }

  async function createSession(s: Session): Promise<string> {
    const res = await unary(s, CAPY_PATHS.createChatSession, {});
    assert.equal(res.status, 200);
    const { chatSession } = (await res.json()) as { chatSession: { chatSessionId: string; chatId: string } };
    assert.match(chatSession.chatId, /^\d+$/);
    return chatSession.chatSessionId;
  }

  function chatStream(s: Session, body: unknown): Promise<Response> {
    return fetch(emulator().url + CAPY_PATHS.chatStream, {
      method: 'POST',
      headers: { ...oasisHeaders(emulator().url, s.deviceId, 'application/connect+json'), cookie: s.cookie },
      body: envelope(body),
    });
  }

  return { refresh, login, unary, createSession, chatStream };
}

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { answerFor, searchResultsFor, startEmulator, YUEWEN_PATHS, type Emulator } from './index.js';
import { webHeaders } from './web-headers.js';

// Plain fetch over real HTTP, and a decoder of our own: the emulator is checked
// the way the gateway will meet it.

let em: Emulator;
before(async () => {
  em = await startEmulator({ seed: 42 });
});
after(() => em.close());

function oasisHeaders(deviceId: string, contentType = 'application/json'): Record<string, string> {
  return { 'content-type': contentType, ...webHeaders('yuewen', em.url, deviceId) };
}

interface Session {
  deviceId: string;
  userToken: string;
  cookie: string;
}

async function login(): Promise<Session> {
  const { deviceId, userToken } = em.addAccount();
  const res = await fetch(em.url + YUEWEN_PATHS.registerDevice, {
    method: 'POST',
    headers: { ...oasisHeaders(deviceId), cookie: `Oasis-Token=${userToken}; Oasis-Webid=${deviceId}` },
    body: '{}',
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { accessToken: { raw: string }; refreshToken: { raw: string } };
  return { deviceId, userToken, cookie: `Oasis-Token=${body.accessToken.raw}...${body.refreshToken.raw}; Oasis-Webid=${deviceId}` };
}

function unary(s: Session, path: string, body: unknown): Promise<Response> {
  return fetch(em.url + path, {
    method: 'POST',
    headers: { ...oasisHeaders(s.deviceId), cookie: s.cookie },
    body: JSON.stringify(body),
  });
}

async function createChat(s: Session): Promise<string> {
  const res = await unary(s, YUEWEN_PATHS.createChat, { chatName: 'test' });
  assert.equal(res.status, 200);
  return ((await res.json()) as { chatId: string }).chatId;
}

// A copy typed over a plain ArrayBuffer, which fetch's BodyInit accepts under both DOM and Node typings.
function envelope(body: unknown): Uint8Array<ArrayBuffer> {
  const json = Buffer.from(JSON.stringify(body));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(json.length, 1);
  return new Uint8Array(Buffer.concat([head, json]));
}

function send(s: Session, chatId: string, text: string, signal?: AbortSignal): Promise<Response> {
  return fetch(em.url + YUEWEN_PATHS.sendMessageStream, {
    method: 'POST',
    headers: { ...oasisHeaders(s.deviceId, 'application/connect+json'), cookie: s.cookie },
    body: envelope({ chatId, messageInfo: { text } }),
    signal: signal ?? null,
  });
}

interface Envelope {
  flag: number;
  body: Record<string, unknown>;
}

interface StreamRead {
  envelopes: Envelope[];
  reads: number;
  /** Reads that ended in the middle of an envelope. */
  splitReads: number;
}

/** Buffers across reads; stops early once `until` says so. */
async function readEnvelopes(res: Response, until?: (e: Envelope[]) => boolean): Promise<StreamRead> {
  const reader = res.body!.getReader();
  const out: StreamRead = { envelopes: [], reads: 0, splitReads: 0 };
  let buf = Buffer.alloc(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.reads++;
    buf = Buffer.concat([buf, value]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const end = 5 + buf.readUInt32BE(1);
      out.envelopes.push({ flag: buf[0]!, body: JSON.parse(buf.subarray(5, end).toString('utf8')) });
      buf = buf.subarray(end);
    }
    if (buf.length > 0) out.splitReads++;
    if (until?.(out.envelopes)) {
      await reader.cancel();
      return out;
    }
  }
  assert.equal(buf.length, 0, 'stream ended inside an envelope');
  return out;
}

function texts(envelopes: Envelope[]): string[] {
  return envelopes.flatMap((e) => {
    const event = e.body.textEvent as { text: string } | undefined;
    return event ? [event.text] : [];
  });
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('RegisterDevice answers 401 "embezzled" without the oasis headers', async () => {
  const { userToken } = em.addAccount();
  const res = await fetch(em.url + YUEWEN_PATHS.registerDevice, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'connect-protocol-version': '1', cookie: `Oasis-Token=${userToken}` },
    body: '{}',
  });
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { code: 'unauthenticated', message: 'oasis-token is embezzled' });
});

test('a call lacking any one header of the web app, or the Oasis-Webid cookie, is refused', async () => {
  const s = await login();
  const full = oasisHeaders(s.deviceId);
  const expected: Record<string, number> = { 'connect-protocol-version': 400, 'x-waf-client-type': 403, 'user-agent': 403, origin: 403, referer: 403 };
  for (const name of Object.keys(full).filter((n) => n !== 'content-type')) {
    const { [name]: _dropped, ...headers } = full;
    const res = await fetch(em.url + YUEWEN_PATHS.createChat, { method: 'POST', headers: { ...headers, cookie: s.cookie }, body: '{}' });
    assert.equal(res.status, expected[name] ?? 401, `without ${name}`);
  }
  const bareCookie = s.cookie.replace(/; Oasis-Webid=.*$/, '');
  const res = await fetch(em.url + YUEWEN_PATHS.createChat, { method: 'POST', headers: { ...full, cookie: bareCookie }, body: '{}' });
  assert.deepEqual([res.status, await res.json()], [401, { code: 'unauthenticated', message: 'oasis-token is embezzled' }]);
  assert.equal((await unary(s, YUEWEN_PATHS.createChat, {})).status, 200, 'the full set passes');
});

test('RegisterDevice issues tokens to a known device and refuses unknown, foreign or revoked ones', async () => {
  const before = em.stats().registerDevice;
  const s = await login();
  const register = (deviceId: string, token: string) =>
    fetch(em.url + YUEWEN_PATHS.registerDevice, {
      method: 'POST',
      headers: { ...oasisHeaders(deviceId), cookie: `Oasis-Token=${token}; Oasis-Webid=${deviceId}` },
      body: '{}',
    });
  assert.equal((await register(s.deviceId, 'nope')).status, 401);
  const foreign = await register('other-device', s.userToken);
  assert.deepEqual(await foreign.json(), { code: 'unauthenticated', message: 'oasis-token is embezzled' });
  em.revokeAccount(s.userToken);
  const revoked = await register(s.deviceId, s.userToken);
  assert.equal(revoked.status, 401);
  assert.deepEqual(await revoked.json(), { code: 'unauthenticated', message: 'token is invalid' });
  assert.equal(em.stats().registerDevice - before, 4);
});

test('a chat is created, answered in fragmented envelopes and deleted', async () => {
  const s = await login();
  const start = em.stats();
  const chatId = await createChat(s);
  assert.match(chatId, /^\d+$/);
  const prompt = 'hello 你好 🚀';
  const res = await send(s, chatId, prompt);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/connect+json');
  const read = await readEnvelopes(res);
  const bodies = read.envelopes.map((e) => e.body);
  assert.ok('startEvent' in bodies[0]!);
  assert.deepEqual(read.envelopes.at(-1), { flag: 2, body: {} });
  assert.ok('doneEvent' in bodies.at(-2)!);
  assert.equal(texts(read.envelopes).join(''), answerFor(prompt).join(''));
  assert.ok(read.reads > read.envelopes.length || read.splitReads > 0, `reads ${read.reads}, split ${read.splitReads}`);
  assert.equal(em.messages.at(-1)?.answer, answerFor(prompt).join(''));
  assert.equal(em.messages.at(-1)?.deviceId, s.deviceId);

  const del = await unary(s, YUEWEN_PATHS.delChat, { chatIds: [chatId] });
  assert.deepEqual(await del.json(), {});
  const end = em.stats();
  assert.equal(end.chatsCreated - start.chatsCreated, 1);
  assert.equal(end.chatsDeleted - start.chatsDeleted, 1);
  assert.equal(end.streamsCompleted - start.streamsCompleted, 1);
  assert.equal(end.activeStreams, 0);
});

test('a #search answer carries three results and a citation marker split across frames', async () => {
  const s = await login();
  const prompt = 'what is new #search #len:8';
  const read = await readEnvelopes(await send(s, await createChat(s), prompt));
  const pipeline = read.envelopes.find((e) => 'pipelineEvent' in e.body)?.body.pipelineEvent;
  assert.deepEqual(pipeline, { eventSearch: { results: searchResultsFor(prompt) } });
  const frames = texts(read.envelopes);
  assert.equal(frames.length, 8);
  assert.deepEqual(frames, answerFor(prompt));
  assert.ok(frames.some((f, i) => f.endsWith('<we') && frames[i + 1]?.startsWith('b_')));
  assert.match(frames.join(''), /<url_[0-9a-f]{6}>.*<unknown_[0-9a-f]{6}>/);
});

test('an expired access token gives 401 on unary calls and an error trailer on streams', async () => {
  const s = await login();
  const chatId = await createChat(s);
  em.expireAccessTokens();
  const res = await unary(s, YUEWEN_PATHS.createChat, { chatName: 'x' });
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { code: 'unauthenticated', message: 'token is expired' });
  const stream = await send(s, chatId, 'hi');
  assert.equal(stream.status, 200);
  const read = await readEnvelopes(stream);
  assert.deepEqual(read.envelopes, [{ flag: 2, body: { error: { code: 'unauthenticated', message: 'token is expired' } } }]);
});

test('an unknown chat gives a not_found error trailer', async () => {
  const s = await login();
  const read = await readEnvelopes(await send(s, '123', 'hi'));
  assert.deepEqual(read.envelopes, [{ flag: 2, body: { error: { code: 'not_found', message: 'chat not found' } } }]);
});

test('#fault:reset drops the connection mid-stream', async () => {
  const s = await login();
  const res = await send(s, await createChat(s), 'boom #fault:reset');
  let seen: Envelope[] = [];
  const keepSeen = (e: Envelope[]): boolean => {
    seen = [...e];
    return false;
  };
  await assert.rejects(readEnvelopes(res, keepSeen));
  assert.equal(texts(seen).length, 3);
  assert.ok(!seen.some((e) => e.flag === 2));
});

test('a client leaving a #fault:stall stream is counted as an abort', async () => {
  const s = await login();
  const before = em.stats();
  const controller = new AbortController();
  const res = await send(s, await createChat(s), 'wait #fault:stall', controller.signal);
  await readEnvelopes(res, (e) => texts(e).length === 3);
  assert.equal(em.stats().activeStreams, before.activeStreams + 1);
  const leftAt = Date.now();
  controller.abort();
  await until(() => em.stats().streamsAborted === before.streamsAborted + 1);
  const after = em.stats();
  assert.ok(after.lastAbortAt !== null && after.lastAbortAt >= leftAt);
  assert.equal(after.activeStreams, before.activeStreams);
});

test('failNext answers the next call of that kind only', async () => {
  const s = await login();
  em.failNext('CreateChat', 503, { code: 'unavailable', message: 'try later' });
  const failed = await unary(s, YUEWEN_PATHS.createChat, { chatName: 'x' });
  assert.equal(failed.status, 503);
  assert.deepEqual(await failed.json(), { code: 'unavailable', message: 'try later' });
  assert.equal((await unary(s, YUEWEN_PATHS.createChat, { chatName: 'x' })).status, 200);
});

test('unknown paths answer 404 not_found', async () => {
  const res = await fetch(`${em.url}/api/nope`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 404);
  assert.equal(((await res.json()) as { code: string }).code, 'not_found');
});

test('the control API serves stats and creates accounts', async () => {
  const account = (await (await fetch(`${em.url}/__emulator/accounts`, { method: 'POST' })).json()) as { token: string };
  assert.match(account.token, /^[0-9a-f]+@ut_/);
  const stats = (await (await fetch(`${em.url}/__emulator/stats`)).json()) as Record<string, unknown>;
  assert.deepEqual(stats, JSON.parse(JSON.stringify(em.stats())));
});

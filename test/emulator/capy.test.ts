import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  ask,
  capyClient,
  events,
  jwtPayload,
  known,
  oasisHeaders,
  readEnvelopes,
  textsOf,
  type CapyEvent,
} from './capy-test-client.js';
import {
  capyAnswerFor,
  capySearchResultsFor,
  CAPY_PATHS,
  DEFAULT_MODELS,
  reasoningFor,
  startEmulator,
  type Emulator,
} from './index.js';

// The capy dialect over real HTTP, through the bare client of capy-test-client.ts.

let em: Emulator;
before(async () => {
  em = await startEmulator({ dialect: 'capy', seed: 7 });
});
after(() => em.close());

const { refresh, login, unary, createSession, chatStream } = capyClient(() => em);
const EXPIRED = { code: 'unauthenticated', message: 'token is expired' };

test('RefreshToken rotates strictly: the old refresh token then only earns a guest pair', async () => {
  const before = em.stats();
  const { deviceId, userToken, token } = em.addAccount();
  assert.equal(token, `${deviceId}@${userToken}`);
  assert.equal(em.currentRefreshToken(deviceId), userToken);
  const first = await refresh(deviceId, userToken);
  const claims = jwtPayload(first.accessToken.raw);
  assert.equal(claims.activated, true);
  assert.equal(claims.deviceId, deviceId);
  assert.ok(typeof claims.exp === 'number' && claims.exp * 1000 > Date.now());
  assert.notEqual(first.refreshToken.raw, userToken);
  assert.equal(em.currentRefreshToken(deviceId), first.refreshToken.raw);

  const stale = await refresh(deviceId, `${first.accessToken.raw}...${userToken}`);
  assert.equal(jwtPayload(stale.accessToken.raw).activated, false);
  assert.equal(em.currentRefreshToken(deviceId), first.refreshToken.raw);

  const second = await refresh(deviceId, `${first.accessToken.raw}...${first.refreshToken.raw}`);
  assert.equal(jwtPayload(second.accessToken.raw).activated, true);
  assert.equal(em.currentRefreshToken(deviceId), second.refreshToken.raw);
  const after = em.stats();
  assert.equal(after.registerDevice - before.registerDevice, 3);
  assert.equal(after.guestTokens - before.guestTokens, 1);
  const headers = em.requests.at(-1)!.headers;
  assert.deepEqual([headers['oasis-language'], headers.canary], ['zh', 'false']);
});

test('an unknown refresh token gets a guest pair that the agent service refuses', async () => {
  const guest = await refresh('some-device', 'never-issued');
  assert.ok(!('deviceId' in jwtPayload(guest.accessToken.raw)));
  assert.equal(jwtPayload(guest.accessToken.raw).activated, false);
  assert.ok(guest.refreshToken.raw.length > 10);
  const s = { deviceId: 'some-device', cookie: `Oasis-Token=${guest.accessToken.raw}...${guest.refreshToken.raw}; Oasis-Webid=some-device` };
  const res = await unary(s, CAPY_PATHS.createChatSession, {});
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), EXPIRED);

  const revoked = em.addAccount();
  em.revokeAccount(revoked.userToken);
  assert.equal(jwtPayload((await refresh(revoked.deviceId, revoked.userToken)).accessToken.raw).activated, false);
  assert.equal(em.currentRefreshToken(revoked.deviceId), undefined);
});

test('missing oasis headers answer 401 "embezzled"', async () => {
  const { userToken } = em.addAccount();
  const res = await fetch(em.url + CAPY_PATHS.refreshToken, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'connect-protocol-version': '1',
      cookie: `Oasis-Token=${userToken}`,
    },
    body: '{}',
  });
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { code: 'unauthenticated', message: 'oasis-token is embezzled' });
});

test('a call lacking any one header of the web app, or the Oasis-Webid cookie, is refused', async () => {
  const s = await login();
  const full = oasisHeaders(em.url, s.deviceId);
  const expected: Record<string, number> = { 'connect-protocol-version': 400, 'x-waf-client-type': 403, 'user-agent': 403, origin: 403, referer: 403 };
  for (const name of Object.keys(full).filter((n) => n !== 'content-type')) {
    const { [name]: _dropped, ...headers } = full;
    const res = await fetch(em.url + CAPY_PATHS.createChatSession, { method: 'POST', headers: { ...headers, cookie: s.cookie }, body: '{}' });
    assert.equal(res.status, expected[name] ?? 401, `without ${name}`);
  }
  const bareCookie = s.cookie.replace(/; Oasis-Webid=.*$/, '');
  const res = await fetch(em.url + CAPY_PATHS.createChatSession, { method: 'POST', headers: { ...full, cookie: bareCookie }, body: '{}' });
  assert.deepEqual([res.status, await res.json()], [401, { code: 'unauthenticated', message: 'oasis-token is embezzled' }]);
  assert.equal((await unary(s, CAPY_PATHS.createChatSession, {})).status, 200, 'the full set passes');
});

test('create, stream with reasoning and search, delete', async () => {
  const s = await login();
  const start = em.stats();
  const id = await createSession(s);
  const prompt = 'tell me 你好 🚀 #len:8';
  const attachments = [{ rid: 'r1', resource: { image: { rid: 'r1' } } }];
  const body = {
    message: { chatSessionId: id, content: { userMessage: { qa: { content: prompt, attachments } } } },
    config: { model: 'deepseek-r1', enableReasoning: true, enableSearch: true },
  };
  const res = await chatStream(s, body);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/connect+json');
  const envelopes = await readEnvelopes(res);
  assert.deepEqual(envelopes.at(-1), { flag: 2, body: {} });
  const evs = known(envelopes);
  const label = ([k, e]: CapyEvent): string => (k === 'pipelineEvent' ? `${e.type}:${e.action}` : k);
  assert.deepEqual(evs.map(label).filter((k, i, all) => k !== all[i - 1]), [
    'startEvent', 'messageEvent', 'EVENT_TYPE_REASONING:start', 'reasoningEvent', 'EVENT_TYPE_REASONING:end',
    'EVENT_TYPE_SEARCH:end', 'textEvent', 'messageDoneEvent', 'doneEvent',
  ]);
  assert.deepEqual(evs[1]![1], { message: { model: 'deepseek-r1', meta: {} } });
  const pipelines = evs.filter(([k]) => k === 'pipelineEvent').map(([, e]) => e);
  assert.deepEqual(pipelines.slice(0, 2), [
    { type: 'EVENT_TYPE_REASONING', action: 'start' },
    { type: 'EVENT_TYPE_REASONING', action: 'end' },
  ]);
  const results = capySearchResultsFor(prompt);
  assert.deepEqual(pipelines[2], { type: 'EVENT_TYPE_SEARCH', action: 'end', eventSearch: { results } });
  assert.deepEqual(Object.keys(results[0]!).sort(), ['faviconUrl', 'site', 'snippet', 'title', 'url']);
  assert.deepEqual(textsOf(evs, 'reasoningEvent'), reasoningFor(prompt));
  const frames = textsOf(evs, 'textEvent');
  assert.deepEqual(frames, capyAnswerFor(prompt, { search: true }));
  // Markers come from config.enableSearch alone; the n-th distinct web id cites the n-th result.
  const webIds = [...new Set([...frames.join('').matchAll(/<web_([^<>]*)>/g)].map((m) => m[1]))];
  assert.equal(webIds.length, 2);

  const msg = em.messages.at(-1)!;
  assert.deepEqual(
    { chatId: msg.chatId, text: msg.text, model: msg.model, reasoning: msg.reasoning, search: msg.searchEnabled },
    { chatId: id, text: prompt, model: 'deepseek-r1', reasoning: true, search: true },
  );
  assert.deepEqual(msg.attachments, attachments);
  assert.equal(msg.answer, frames.join(''));

  assert.deepEqual(await (await unary(s, CAPY_PATHS.deleteChatSession, { chatSessionId: id })).json(), {});
  const end = em.stats();
  assert.equal(end.chatsCreated - start.chatsCreated, 1);
  assert.equal(end.chatsDeleted - start.chatsDeleted, 1);
  assert.equal(end.streamsCompleted - start.streamsCompleted, 1);
});

test('a config nested inside message is ignored: defaults apply', async () => {
  const s = await login();
  const id = await createSession(s);
  const nested = { model: 'deepseek-r1', enableReasoning: true, enableSearch: true };
  const body = { message: { ...(ask(id, 'plain') as { message: object }).message, config: nested } };
  const evs = known(await readEnvelopes(await chatStream(s, body)));
  assert.deepEqual(evs[1]![1], { message: { model: 'step-auto', meta: {} } });
  assert.ok(!evs.some(([k]) => k === 'reasoningEvent' || k === 'pipelineEvent'));
  assert.deepEqual(textsOf(evs, 'textEvent'), capyAnswerFor('plain'));
  assert.ok(!textsOf(evs, 'textEvent').join('').includes('<web_'));
  const msg = em.messages.at(-1)!;
  assert.deepEqual([msg.model, msg.reasoning, msg.searchEnabled], ['step-auto', false, false]);
});

test('an unknown model or session ends in an error trailer', async () => {
  const s = await login();
  const id = await createSession(s);
  const unknown = await readEnvelopes(await chatStream(s, ask(id, 'hi', { model: 'gpt-9' })));
  assert.deepEqual(unknown, [{ flag: 2, body: { error: { code: 'invalid_argument', message: 'unknown model' } } }]);
  const gone = await readEnvelopes(await chatStream(s, ask('123', 'hi')));
  assert.equal((gone[0]?.body.error as { code: string }).code, 'not_found');
});

test('#fault:error-event sends an errorEvent after three text frames, then an empty trailer', async () => {
  const s = await login();
  const evs = events(await readEnvelopes(await chatStream(s, ask(await createSession(s), 'x #fault:error-event'))));
  assert.equal(textsOf(evs, 'textEvent').length, 3);
  assert.deepEqual(evs.at(-1), ['errorEvent', { message: 'emulated upstream error' }]);
});

test('an expired access token gives 401 on unary calls and an error trailer on ChatStream', async () => {
  const s = await login();
  const id = await createSession(s);
  em.expireAccessTokens();
  const res = await unary(s, CAPY_PATHS.getChatConfig, {});
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), EXPIRED);
  const stream = await chatStream(s, ask(id, 'hi'));
  assert.equal(stream.status, 200);
  assert.deepEqual(await readEnvelopes(stream), [{ flag: 2, body: { error: EXPIRED } }]);
});

test('GetChatConfig lists the models, honours the models option and failNext', async () => {
  const s = await login();
  const list = async () => {
    const res = await unary(s, CAPY_PATHS.getChatConfig, {});
    return ((await res.json()) as { modelList: { model: string }[] }).modelList;
  };
  const models = await list();
  assert.deepEqual(models.map((m) => m.model), [...DEFAULT_MODELS]);
  assert.deepEqual(Object.keys(models[0]!).sort(), ['description', 'displayName', 'model', 'tags']);
  em.failNext('GetChatConfig', 503, { code: 'unavailable', message: 'later' });
  assert.equal((await unary(s, CAPY_PATHS.getChatConfig, {})).status, 503);
  // Legacy names reach the matching capy call, so dialect-neutral suites can use them.
  em.failNext('CreateChat', 500);
  assert.equal((await unary(s, CAPY_PATHS.createChatSession, {})).status, 500);
  assert.equal((await unary(s, CAPY_PATHS.createChatSession, {})).status, 200);
  em.configure({ models: ['step-auto', 'only-this'] });
  try {
    assert.deepEqual((await list()).map((m) => m.model), ['step-auto', 'only-this']);
  } finally {
    em.configure({ models: [...DEFAULT_MODELS] });
  }
});

test('an image upload is read as multipart and recorded', async () => {
  const s = await login();
  // A PNG signature and IHDR chunk header claiming 3 × 2 pixels.
  const png = Buffer.alloc(40);
  png.writeUInt32BE(0x89504e47, 0);
  png.writeUInt32BE(0x0d0a1a0a, 4);
  png.write('IHDR', 12, 'latin1');
  png.writeUInt32BE(3, 16);
  png.writeUInt32BE(2, 20);
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(png)], { type: 'image/png' }), '图.png');
  form.append('scene_id', 'image');
  form.append('mime_type', 'image/png');
  const { 'content-type': _ct, ...headers } = oasisHeaders(em.url, s.deviceId);
  const res = await fetch(em.url + CAPY_PATHS.uploadImage, {
    method: 'POST',
    headers: { ...headers, cookie: s.cookie },
    body: form,
  });
  assert.equal(res.status, 200);
  const reply = (await res.json()) as { rid: string; url: string; meta: object };
  assert.equal(reply.url, `https://emulator/res/${reply.rid}`);
  assert.deepEqual(reply.meta, { width: 3, height: 2, size: 40 });
  assert.deepEqual(em.uploads.at(-1), { dialect: 'capy', name: '图.png', mime: 'image/png', size: 40, sha256: createHash('sha256').update(png).digest('hex') });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { parseSse, suiteStack } from './helpers.js';

const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });

async function expectError(res: Response, status: number, type: string) {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await res.json()) as any;
  assert.equal(typeof body.error.message, 'string');
  assert.equal(body.error.type, type);
  assert.ok('param' in body.error && 'code' in body.error);
  return body.error;
}

describe('errors have real statuses in the OpenAI shape', () => {
  const s = suiteStack({ config: { BODY_LIMIT_BYTES: 4096, UPSTREAM_HEADERS_TIMEOUT_MS: 400 }, emulator: { slowMs: 1500 } });

  test('a body without messages is a 400 that the SDK raises as BadRequestError', async () => {
    await assert.rejects(s.client().chat.completions.create({ model: 'step' } as never), OpenAI.BadRequestError);
    const res = await s.post({ model: 'step' });
    const err = await expectError(res, 400, 'invalid_request_error');
    assert.equal(res.headers.get('x-should-retry'), 'false');
    assert.match(err.message, /messages/);
  });

  test('malformed JSON is a 400', async () => {
    await expectError(await s.post('{"model": "step", '), 400, 'invalid_request_error');
  });

  test('an unsupported content part is a 400 that names it', async () => {
    const err = await expectError(await s.post({ model: 'step', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }), 400, 'invalid_request_error');
    assert.match(err.message, /input_audio/);
  });

  test('a missing token is a 401 AuthenticationError', async () => {
    const res = await fetch(`${s.baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask('hi')) });
    await expectError(res, 401, 'authentication_error');
  });

  test('a malformed token is a 401 whose message does not repeat it', async () => {
    await assert.rejects(s.client('not-a-token-secret123').chat.completions.create(ask('hi')), OpenAI.AuthenticationError);
    const err = await expectError(await s.post(ask('hi'), { authorization: 'Bearer nodevice-secret123' }), 401, 'authentication_error');
    assert.ok(!err.message.includes('secret123'));
  });

  test('a token StepChat rejects is a 401 AuthenticationError', async () => {
    const dead = s.emu.addAccount();
    s.emu.revokeAccount(dead.userToken);
    await assert.rejects(s.client(dead.token).chat.completions.create(ask('hi')), OpenAI.AuthenticationError);
  });

  test('an unknown route is a 404 NotFoundError', async () => {
    await assert.rejects(s.client().models.retrieve('step'), OpenAI.NotFoundError);
    await expectError(await fetch(`${s.baseUrl}/v1/nothing-here`), 404, 'invalid_request_error');
  });

  test('a body over the limit is a 413', async () => {
    const big = 'x'.repeat(8192);
    await assert.rejects(s.client().chat.completions.create(ask(big)), (err: InstanceType<typeof OpenAI.APIError>) => err.status === 413);
    await expectError(await s.post(ask(big)), 413, 'invalid_request_error');
  });

  test('an upstream failure is a 502 the SDK raises as InternalServerError', async () => {
    s.emu.failNext('CreateChat', 500);
    await assert.rejects(s.client().chat.completions.create(ask('hi')), (err: InstanceType<typeof OpenAI.APIError>) => err instanceof OpenAI.InternalServerError && err.status === 502);
  });

  test('an upstream error mid-answer is a 502 when not streaming', async () => {
    await assert.rejects(s.client().chat.completions.create(ask('boom #fault:error-trailer')), (err: InstanceType<typeof OpenAI.APIError>) => err.status === 502);
  });

  test('x-should-retry: false is on every error no retry can fix and on no retryable one', async () => {
    const dead = s.emu.addAccount();
    s.emu.revokeAccount(dead.userToken);
    const final: [string, Response][] = [
      ['400 bad body', await s.post({ model: 'step' })],
      ['400 malformed JSON', await s.post('{"model": ')],
      ['401 no token', await s.post(ask('hi'), { authorization: '' })],
      ['401 token StepChat rejects', await s.post(ask('hi'), { authorization: `Bearer ${dead.token}` })],
      ['404 unknown route', await fetch(`${s.baseUrl}/v1/nothing-here`)],
      ['413 body too large', await s.post(ask('x'.repeat(8192)))],
    ];
    s.emu.failNext('CreateChat', 500);
    const retryable: [string, Response][] = [
      ['502 upstream failure', await s.post(ask('hi'))],
      ['504 upstream timeout', await s.post(ask('slow again #fault:slow'))],
    ];
    for (const [what, res] of final) {
      assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status}`);
      assert.equal(res.headers.get('x-should-retry'), 'false', what);
    }
    for (const [what, res] of retryable) {
      assert.equal(res.status, Number(what.slice(0, 3)), what);
      assert.equal(res.headers.get('x-should-retry'), null, what);
    }
    await Promise.all([...final, ...retryable].map(([, res]) => res.text()));
  });

  test('an upstream that does not answer in time is a 504', async () => {
    const res = await s.post(ask('slow one #fault:slow'));
    const err = await expectError(res, 504, 'upstream_error');
    assert.match(err.message, /in time/);
  });

  test('an error after the stream started is an error event, then [DONE], and the SDK raises it', async () => {
    const res = await s.post({ ...ask('bad stream #fault:error-event'), stream: true });
    assert.equal(res.status, 200);
    const { data } = parseSse(await res.text());
    assert.equal(data.at(-1), '[DONE]');
    const last = JSON.parse(data.at(-2)!);
    assert.equal(last.choices, undefined);
    assert.equal(last.error.type, 'upstream_error');
    assert.match(last.error.message, /emulated upstream error/);
    const stream = await s.client().chat.completions.create({ ...ask('bad stream #fault:error-event'), stream: true });
    await assert.rejects(async () => {
      for await (const _ of stream) void _;
    }, OpenAI.APIError);
  });

  test('a stream whose upstream fails before any text gets a real HTTP status', async () => {
    s.emu.failNext('SendMessageStream', 503);
    const res = await s.post({ ...ask('fails at once'), stream: true });
    await expectError(res, 502, 'upstream_error');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startStack, type Stack } from './helpers.js';

describe('other endpoints', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(async () => {
    await s.close();
  });

  test('GET /v1/models lists step and a vision model in the OpenAI list shape, also via the SDK', async () => {
    const res = await fetch(`${s.baseUrl}/v1/models`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.object, 'list');
    for (const m of body.data) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(typeof m.owned_by, 'string');
    }
    const ids = body.data.map((m: { id: string }) => m.id);
    assert.ok(ids.includes('step'));
    assert.ok(ids.some((id: string) => /vision/.test(id)));
    const listed = [];
    for await (const m of s.client().models.list()) listed.push(m.id);
    assert.deepEqual(listed, ids);
  });

  test('GET /ping answers pong', async () => {
    const res = await fetch(`${s.baseUrl}/ping`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'pong');
  });

  test('GET / is an HTML page that says what the service is', async () => {
    const res = await fetch(`${s.baseUrl}/`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const html = await res.text();
    assert.match(html, /OpenAI/);
    assert.match(html, /\/v1\/chat\/completions/);
  });

  test('CORS preflight allows Authorization, Content-Type and X-Stainless headers', async () => {
    const res = await fetch(`${s.baseUrl}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://chat.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,x-stainless-os',
      },
    });
    assert.ok(res.status === 204 || res.status === 200);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'content-type', 'x-stainless-']) assert.ok(allowed.includes(h), `allows ${h}`);
  });
});

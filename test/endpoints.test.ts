import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { DIALECT, suiteStack } from './helpers.js';

describe('other endpoints', () => {
  const s = suiteStack();

  test('GET /v1/models lists the models in the OpenAI list shape, also via the SDK', async () => {
    const res = await fetch(`${s.baseUrl}/v1/models`, { headers: { authorization: `Bearer ${s.token}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.object, 'list');
    for (const m of body.data) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(typeof m.owned_by, 'string');
    }
    const ids = body.data.map((m: { id: string }) => m.id);
    if (DIALECT === 'yuewen') {
      assert.ok(ids.includes('step'));
      assert.ok(ids.some((id: string) => /vision/.test(id)));
    } else {
      // The emulator's own list, asked with the caller's token, plus the behaviour variants.
      for (const id of ['step-auto', 'step-2-16k', 'step3.5-flash', 'deepseek-r1', 'step-auto-search', 'deepseek-r1-think']) assert.ok(ids.includes(id), id);
    }
    const listed = [];
    for await (const m of s.client().models.list()) listed.push(m.id);
    assert.deepEqual(listed, ids);
  });

  test('GET /v1/models without any credentials still answers, with the fallback list', async () => {
    const res = await fetch(`${s.baseUrl}/v1/models`);
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as any).data.length > 0);
  });

  test('GET /v1/models answers the fallback list when the upstream is down', async () => {
    const app = await buildApp(loadConfig({}, { STEP_DIALECT: DIALECT, STEP_BASE_URL: 'http://127.0.0.1:1', LOG_LEVEL: 'silent', UPSTREAM_CONNECT_TIMEOUT_MS: 1000 }));
    try {
      const res = await app.inject({ url: '/v1/models', headers: { authorization: 'Bearer dev@some-token' } });
      assert.equal(res.statusCode, 200);
      const ids = res.json().data.map((m: { id: string }) => m.id);
      assert.ok(ids.includes(DIALECT === 'capy' ? 'step-auto' : 'step'));
    } finally {
      await app.close();
    }
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

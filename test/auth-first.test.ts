import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { suiteStack } from './helpers.js';

const API_KEY = 'gateway-key-7d1e0b';

describe('no work before authentication', () => {
  const s = suiteStack({
    config: (emu) => ({ STEP_TOKENS: emu.addAccount().token, API_KEYS: API_KEY, ATTACHMENT_ALLOW_HOSTS: '127.0.0.1' }),
  });
  const withImage = (path: string) => ({
    model: 'step',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: `${s.emu.url}${path}` } }] }],
  });

  test('a made-up token with an attachment URL is a 401 and the origin is never contacted', async () => {
    const res = await s.post(withImage('/files/pixel.png?who=nobody'), { authorization: 'Bearer nobody@fake' });
    assert.equal(res.status, 401);
    const { error } = (await res.json()) as { error: { type: string } };
    assert.equal(error.type, 'authentication_error');
    assert.equal(
      s.emu.requests.filter((r) => r.path.startsWith('/files/')).length,
      0,
      'the attachment origin was contacted for a request that failed authentication',
    );
  });

  test('the SDK raises it as an AuthenticationError, streaming too', async () => {
    const client = new OpenAI({ apiKey: 'nobody@fake', baseURL: `${s.baseUrl}/v1`, maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ ...withImage('/files/pixel.png'), stream: true } as never), OpenAI.AuthenticationError);
    assert.equal(s.emu.requests.filter((r) => r.path.startsWith('/files/')).length, 0);
  });

  test('a real account with an attachment still gets its answer', async () => {
    const res = await s.post(withImage('/files/pixel.png'), { authorization: `Bearer ${API_KEY}` });
    assert.equal(res.status, 200);
    assert.ok(s.emu.requests.some((r) => r.path.startsWith('/files/pixel.png')));
  });
});

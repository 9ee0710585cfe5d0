import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { suiteStack } from './helpers.js';

const MB = 1024 * 1024;

/** A 1×1 PNG header followed by random bytes: `bytes` long in all. */
function png(bytes: number): Buffer {
  const head = Buffer.from('89504e470d0a1a0a0000000d494844520000000100000001', 'hex');
  return Buffer.concat([head, randomBytes(bytes - head.length)]);
}

describe('eight concurrent 60 MB bodies against a budget that fits two', () => {
  const s = suiteStack({ config: { BODY_BUDGET_BYTES: 150 * MB, BODY_LIMIT_BYTES: 64 * MB } });

  test('the surplus gets 503 with Retry-After, the admitted ones reach the upstream intact, and the service stays up', async () => {
    const images = Array.from({ length: 8 }, () => png(45 * MB)); // 60 MB of base64 each
    const bodies = images.map((img) =>
      JSON.stringify({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${img.toString('base64')}` } }] }] }),
    );
    assert.ok(bodies.every((b) => b.length > 60 * MB && b.length < 64 * MB));
    const answers = await Promise.all(
      bodies.map(async (body) => {
        const res = await fetch(`${s.baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` }, body });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), json: (await res.json()) as { error?: { type: string; code: string; message: string }; choices?: unknown[] } };
      }),
    );
    const admitted = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    assert.equal(admitted.length + refused.length, 8, `statuses: ${answers.map((a) => a.status).join(', ')}`);
    assert.ok(admitted.length >= 1 && admitted.length <= 2, `${admitted.length} admitted with room for two`);
    for (const r of refused) {
      assert.ok(Number(r.retryAfter) > 0);
      assert.equal(r.json.error?.code, 'body_budget_exceeded');
      assert.equal(typeof r.json.error?.message, 'string');
      assert.equal(typeof r.json.error?.type, 'string');
    }
    for (const a of admitted) assert.equal(a.json.choices?.length, 1);
    // Each admitted image arrived upstream byte for byte (the yuewen emulator hashes what it receives).
    const uploads = s.emu.uploads.filter((u) => u.size === 45 * MB);
    assert.equal(uploads.length, admitted.length);
    const sent = new Set(images.map((img) => createHash('sha256').update(img).digest('hex')));
    for (const u of uploads) if (u.sha256 !== undefined) assert.ok(sent.has(u.sha256), 'an upload matches an image that was sent');
    assert.equal((await fetch(`${s.baseUrl}/ping`)).status, 200);
  });

  test('a 2 MB body sent chunked, without Content-Length, is parsed and its image arrives upstream', async () => {
    const img = png(1.5 * MB);
    const text = JSON.stringify({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${img.toString('base64')}` } }] }] });
    const res = await fetch(`${s.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` },
      body: new Blob([text]).stream(),
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    const upload = s.emu.uploads.at(-1)!;
    assert.equal(upload.size, img.length);
    if (upload.sha256 !== undefined) assert.equal(upload.sha256, createHash('sha256').update(img).digest('hex'));
  });

  test('a large body that is not JSON is a 400 as a small one is, and __proto__ is refused', async () => {
    for (const body of [`{"model":"step","messages":[${'x'.repeat(2 * MB)}`, `{"model":"step","__proto__":{"x":1},"pad":"${'y'.repeat(2 * MB)}"}`]) {
      const res = await fetch(`${s.baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` }, body });
      assert.equal(res.status, 400);
      const { error } = (await res.json()) as { error: { message: string } };
      assert.ok(error.message.length > 0);
    }
  });
});

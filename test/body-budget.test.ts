import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { suiteStack, waitFor } from './helpers.js';

const MB = 1024 * 1024;

describe('request bodies held at once are bounded by BODY_BUDGET_BYTES', () => {
  const s = suiteStack({ config: { BODY_BUDGET_BYTES: 3 * MB, ATTACHMENT_ALLOW_HOSTS: '127.0.0.1', ATTACHMENT_FETCH_TIMEOUT_MS: 3000 } });

  /** A 2 MB body; with `hold`, an attachment that drips keeps the request (and its body) in flight. */
  const big = (hold: boolean) => ({
    model: 'step',
    messages: [
      { role: 'system', content: 'y'.repeat(2 * MB) },
      { role: 'user', content: [{ type: 'text', text: 'read' }, ...(hold ? [{ type: 'image_url', image_url: { url: `${s.emu.url}/files/big.bin?bytes=100000&drip=20&held` } }] : [])] },
    ],
  });

  test('a large body that does not fit while another is held is a 503 with Retry-After', async () => {
    const first = s.post(big(true));
    await waitFor(() => s.emu.requests.some((r) => r.path.startsWith('/files/big.bin')), 'the first request is in flight');
    const second = await s.post(big(false));
    assert.equal(second.status, 503);
    assert.ok(Number(second.headers.get('retry-after')) > 0);
    const { error } = (await second.json()) as { error: { code: string } };
    assert.equal(error.code, 'body_budget_exceeded');
    // Small requests still pass.
    assert.equal((await fetch(`${s.baseUrl}/ping`)).status, 200);
    const held = await first;
    assert.equal(held.status, 400, 'the held request ends at its attachment deadline');
    await held.arrayBuffer();
  });

  test('once the held body is released, a large body is taken again', async () => {
    const res = await s.post(big(false));
    assert.notEqual(res.status, 503);
    await res.arrayBuffer();
  });

  test('a chunked body that does not fit is cut off with a 503 too', async () => {
    const first = s.post(big(true));
    await waitFor(() => s.emu.requests.filter((r) => r.path.startsWith('/files/big.bin')).length >= 2, 'the first request is in flight');
    const body = new Blob([JSON.stringify(big(false))]).stream();
    const res = await fetch(`${s.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` },
      body,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 503);
    await res.arrayBuffer();
    await (await first).arrayBuffer();
  });
});

describe('the body budget charges what parsing a body holds, not just its size', () => {
  const s = suiteStack({ config: { BODY_BUDGET_BYTES: 10 * MB, ATTACHMENT_ALLOW_HOSTS: '127.0.0.1', ATTACHMENT_FETCH_TIMEOUT_MS: 3000 } });
  const png = (bytes: number) => Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d494844520000000100000001', 'hex'), Buffer.alloc(bytes - 24, 7)]);
  const imageUrl = (bytes: number) => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${png(bytes).toString('base64')}` } });

  test('while a body is held, 2.5 MB of JSON text (parsed at ~4 times its size) is a 503, and 2.5 MB that is mostly an image is taken', async () => {
    // Held by an attachment that drips; its image is decoded as it arrived, so it holds about its 2 MB.
    const first = s.post({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'read' }, imageUrl(1.5 * MB), { type: 'image_url', image_url: { url: `${s.emu.url}/files/big.bin?bytes=100000&drip=20&held` } }] }] });
    await waitFor(() => s.emu.requests.some((r) => r.path.startsWith('/files/big.bin')), 'the first request is in flight');
    const text = await s.post({ model: 'step', messages: [{ role: 'system', content: 'y'.repeat(2.5 * MB) }, { role: 'user', content: 'read' }] });
    assert.equal(text.status, 503);
    assert.ok(Number(text.headers.get('retry-after')) > 0);
    assert.equal(((await text.json()) as { error: { code: string } }).error.code, 'body_budget_exceeded');
    const image = await s.post({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'what is it?' }, imageUrl(1.9 * MB)] }] });
    assert.equal(image.status, 200, await image.clone().text());
    await image.arrayBuffer();
    await (await first).arrayBuffer();
  });
});

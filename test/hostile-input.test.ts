import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { FILE_FIXTURES } from './emulator/index.js';
import { suiteStack } from './helpers.js';

const pngBase64 = FILE_FIXTURES['pixel.png']!.bytes.toString('base64');

describe('hostile input is refused with a 400 before any upstream work', () => {
  const s = suiteStack({ config: { ATTACHMENT_ALLOW_HOSTS: '127.0.0.1' }, emulator: { uploadPolls: 0 } });

  /** Posts one user message with `parts`; expects a 400 in the OpenAI shape, no chat, no upload, no login. */
  async function refused(parts: unknown[], headers: Record<string, string> = {}): Promise<{ message: string; code: string }> {
    const before = { ...s.emu.stats(), uploads: s.emu.uploads.length };
    const res = await s.post({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'read this' }, ...parts] }] }, headers);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-should-retry'), 'false');
    const { error } = (await res.json()) as { error: { message: string; type: string; code: string; param: unknown } };
    assert.equal(error.type, 'invalid_request_error');
    assert.ok('param' in error);
    const after = s.emu.stats();
    assert.equal(after.chatsCreated, before.chatsCreated, 'no upstream chat was created');
    assert.equal(s.emu.uploads.length, before.uploads, 'nothing was uploaded');
    return error;
  }
  const image = (url: string) => ({ type: 'image_url', image_url: { url } });

  test('a data URL whose MIME type holds CR/LF is a 400, not a retried 502', async () => {
    const error = await refused([image(`data:image/png\r\nX-Injected: yes;base64,${pngBase64}`)]);
    assert.equal(error.code, 'attachment_invalid');
    assert.match(error.message, /control characters/);
    await refused([image(`data:image/p\u0001ng;base64,${pngBase64}`)]);
    await refused([image(`data:not a type;base64,${pngBase64}`)]);
  });

  test('plain text as an image_url is a 400, not decoded as base64 and uploaded', async () => {
    await assert.rejects(
      s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: 'hello world' } }] }] }),
      OpenAI.BadRequestError,
    );
    const error = await refused([image('hello world')]);
    assert.match(error.message, /neither an http\(s\) URL nor a data: URL/);
    await refused([{ type: 'file', file_url: { url: 'aGVsbG8gd29ybGQ=' } }]);
  });

  test('bare base64 is still taken as a file_data payload (Dify)', async () => {
    const before = s.emu.uploads.length;
    const res = await s.post({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'read' }, { type: 'file', file: { file_data: pngBase64, filename: 'pixel.png' } }] }] });
    assert.equal(res.status, 200);
    assert.equal(s.emu.uploads.length, before + 1);
    assert.equal(s.emu.uploads.at(-1)!.size, FILE_FIXTURES['pixel.png']!.bytes.length);
  });

  test('a data URL declared as PNG whose bytes are text is a 400 naming what they are', async () => {
    const error = await refused([image('data:image/png,notreallyapng')]);
    assert.equal(error.code, 'attachment_invalid');
    assert.match(error.message, /image\/png/);
    assert.match(error.message, /text\/plain/);
  });

  test('a remote file served as image/png whose bytes are a PDF is a 400 naming the PDF', async () => {
    const error = await refused([image(`${s.emu.url}/files/report.pdf?type=image/png`)]);
    assert.match(error.message, /application\/pdf/);
  });

  test('a bearer value with 100 made-up tokens is a 400 with no upstream login', async () => {
    const logins = s.emu.stats().registerDevice;
    const tokens = Array.from({ length: 100 }, (_, i) => `device${i}@made-up-token-${i}`).join(',');
    await assert.rejects(s.client(tokens).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'hi' }] }), OpenAI.BadRequestError);
    const error = await refused([], { authorization: `Bearer ${tokens}` });
    assert.equal(error.code, 'too_many_tokens');
    assert.match(error.message, /at most 64 tokens/);
    assert.equal(s.emu.stats().registerDevice, logins, 'no token was logged in');
  });
});

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { suiteStack } from './helpers.js';

// Bodies of a megabyte or more have their data URLs decoded as they arrive and replaced in the
// JSON by a per-request reference (plugins/json-body.ts): what a client sees must not change.
const KB = 1024;

/** A 1×1 PNG header followed by random bytes: `bytes` long in all. */
function png(bytes: number): Buffer {
  const head = Buffer.from('89504e470d0a1a0a0000000d494844520000000100000001', 'hex');
  return Buffer.concat([head, randomBytes(bytes - head.length)]);
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dataUrl = (bytes: Buffer, mime = 'image/png') => `data:${mime};base64,${bytes.toString('base64')}`;
const chat = (content: unknown[]) => ({ model: 'step', messages: [{ role: 'user', content }] });
const image = (url: string) => ({ type: 'image_url', image_url: { url } });

describe('large bodies with data URLs', () => {
  const s = suiteStack();

  async function send(text: string): Promise<Response> {
    assert.ok(text.length > 1024 * KB, 'a body large enough to be scanned as it arrives');
    return fetch(`${s.baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` }, body: text });
  }

  /** The uploads of one request (in any order), checked byte for byte: the emulator hashes them. */
  function assertUploaded(since: number, images: Buffer[]): void {
    const uploads = s.emu.uploads.slice(since);
    assert.equal(uploads.length, images.length);
    for (const u of uploads) assert.equal(u.mime, 'image/png');
    assert.deepEqual(uploads.map((u) => u.sha256).sort(), images.map(sha).sort(), 'every image arrived byte for byte');
  }

  test('two images in one body arrive upstream byte for byte', async () => {
    const images = [png(1200 * KB), png(900 * KB)];
    const since = s.emu.uploads.length;
    const res = await send(JSON.stringify(chat([{ type: 'text', text: 'compare' }, image(dataUrl(images[0]!)), image(dataUrl(images[1]!))])));
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    assertUploaded(since, images);
  });

  test('a body that escapes every slash (`\\/`, as PHP writes JSON) has its image arrive byte for byte', async () => {
    const img = png(1500 * KB);
    const text = JSON.stringify(chat([{ type: 'text', text: 'what is this?' }, image(dataUrl(img))])).replaceAll('/', '\\/');
    assert.ok(text.includes('data:image\\/png;base64,'));
    const since = s.emu.uploads.length;
    const res = await send(text);
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    assertUploaded(since, [img]);
  });

  test('a file given as bare base64 file_data (as Dify sends it) arrives upstream byte for byte', async () => {
    const img = png(1500 * KB);
    const since = s.emu.uploads.length;
    const res = await send(JSON.stringify(chat([{ type: 'text', text: 'what is this?' }, { type: 'file', file: { filename: 'photo.png', file_data: img.toString('base64') } }])));
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    assertUploaded(since, [img]);
  });

  test('a data URL given as message text reaches the upstream as it was sent', async () => {
    // Long enough to be taken out as the body arrives (64 KiB of base64), short enough for a prompt.
    const url = dataUrl(randomBytes(60 * KB));
    const res = await send(JSON.stringify({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: url }, image(dataUrl(png(1200 * KB)))] }] }));
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    const sent = s.emu.messages.at(-1)!.text;
    assert.ok(sent.includes(url), 'the whole data URL is in the prompt');
    assert.ok(!sent.includes('@inline:'));
  });

  test('a reference string forged by a client is plain text in a message and a 400 as an image', async () => {
    const forged = `data:image/png;base64,@inline:${randomBytes(16).toString('hex')}:0`;
    const real = png(1200 * KB);
    const ok = await send(JSON.stringify(chat([{ type: 'text', text: `look: ${forged}` }, image(dataUrl(real))])));
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    assert.ok(s.emu.messages.at(-1)!.text.includes(forged), 'the forged string went upstream as the text it is');

    const chats = s.emu.stats().chatsCreated;
    const uploads = s.emu.uploads.length;
    const res = await send(JSON.stringify(chat([{ type: 'text', text: 'look' }, image(dataUrl(real)), image(forged)])));
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'attachment_invalid');
    assert.match(error.message, /base64/);
    assert.equal(s.emu.stats().chatsCreated, chats, 'no upstream chat was created');
    assert.equal(s.emu.uploads.length, uploads, 'nothing was uploaded');
  });

  test('a large non-image declared as PNG, or a MIME type with a control character, is a 400 as a small one is', async () => {
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(1200 * KB)]);
    const chats = s.emu.stats().chatsCreated;
    for (const [url, why] of [
      [dataUrl(pdf), /application\/pdf/],
      [dataUrl(png(1200 * KB), 'image/png\u007f'), /control characters/],
    ] as const) {
      const res = await send(JSON.stringify(chat([{ type: 'text', text: 'see' }, image(url)])));
      assert.equal(res.status, 400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'attachment_invalid');
      assert.match(error.message, why);
    }
    assert.equal(s.emu.stats().chatsCreated, chats, 'no upstream chat was created');
  });
});

describe('CONVERSATION_MODE=auto with data URLs taken out of large bodies', () => {
  const s = suiteStack({ config: { CONVERSATION_MODE: 'auto' } });
  const send = (text: string) => fetch(`${s.baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` }, body: text });

  test('a conversation whose first turn carried a large image is continued in the same upstream chat', async () => {
    // Turn 1 is under the scanning size, turn 2 (with one more image) over it: the history must still match.
    const img = png(700 * KB);
    const first = { role: 'user', content: [{ type: 'text', text: 'remember this picture (large)' }, image(dataUrl(img))] };
    const created = s.emu.stats().chatsCreated;
    const one = await s.post({ model: 'step', messages: [first] });
    assert.equal(one.status, 200);
    const answer = ((await one.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
    const text = JSON.stringify({ model: 'step', messages: [first, { role: 'assistant', content: answer }, { role: 'user', content: [{ type: 'text', text: 'and this one?' }, image(dataUrl(png(400 * KB)))] }] });
    assert.ok(text.length > 1024 * KB, 'turn 2 is scanned as it arrives');
    const res = await send(text);
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    assert.equal(s.emu.stats().chatsCreated - created, 1, 'one upstream chat for both turns');
    assert.equal(s.emu.messages.at(-1)!.attachments.length, 1, 'only the new image is uploaded');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { CAPY_PATHS, FILE_FIXTURES } from './emulator/index.js';
import { suiteStack } from './helpers.js';

const dataUrl = (name: string) => `data:${FILE_FIXTURES[name]!.mime};base64,${FILE_FIXTURES[name]!.bytes.toString('base64')}`;

// The capy dialect uploads images as multipart POST /api/resource/image, documents to
// /api/resource/document (scene_id=file), and sends their rid.
describe('image and document attachments with the capy dialect', () => {
  const s = suiteStack({ emulator: { dialect: 'capy' }, config: { STEP_DIALECT: 'capy', ATTACHMENT_ALLOW_HOSTS: '127.0.0.1' } });

  const ask = (url: string, kind: 'image_url' | 'file' = 'image_url') => ({
    model: 'step-auto',
    messages: [
      {
        role: 'user' as const,
        content: [
          { type: 'text' as const, text: 'Describe it' },
          kind === 'image_url' ? { type: 'image_url' as const, image_url: { url } } : ({ type: 'file', file_url: { url } } as never),
        ],
      },
    ],
  });

  for (const [how, url] of [
    ['by URL', () => `${s.emu.url}/files/photo.jpg`],
    ['as a base64 data URL', () => dataUrl('pixel.png')],
  ] as const) {
    test(`an image ${how} reaches ChatStream as a resource with the rid the upload returned`, async () => {
      const before = s.emu.uploads.length;
      const res = await s.client().chat.completions.create(ask(url()));
      assert.ok(res.choices[0]!.message.content);
      const upload = s.emu.uploads.slice(before);
      assert.equal(upload.length, 1);
      const fixture = how === 'by URL' ? FILE_FIXTURES['photo.jpg']! : FILE_FIXTURES['pixel.png']!;
      assert.equal(upload[0]!.mime, fixture.mime);
      assert.equal(upload[0]!.size, fixture.bytes.length);
      const [att] = s.emu.messages.at(-1)!.attachments as { rid: string; resource: { image: { rid: string; mimeType: string } } }[];
      assert.ok(att && att.rid && att.resource.image.rid === att.rid);
      assert.equal(att.resource.image.mimeType, fixture.mime);
    });
  }

  const docAttachment = () => {
    const [att] = s.emu.messages.at(-1)!.attachments as { rid: string; resource: { doc?: { rid: string; mimeType: string; name: string } } }[];
    assert.ok(att?.resource.doc, 'attached as resource.doc');
    assert.equal(att.resource.doc.rid, att.rid);
    return att.resource.doc;
  };

  test('a document by URL is uploaded to /api/resource/document and reaches ChatStream as resource.doc', async () => {
    const before = s.emu.uploads.length;
    const res = await s.client().chat.completions.create(ask(`${s.emu.url}/files/report.pdf`, 'file'));
    assert.equal(res.choices[0]!.message.content, s.emu.messages.at(-1)!.answer);
    const upload = s.emu.uploads.slice(before);
    assert.deepEqual(upload.map((u) => [u.mime, u.size]), [['application/pdf', FILE_FIXTURES['report.pdf']!.bytes.length]]);
    assert.ok(s.emu.requests.some((r) => r.path === CAPY_PATHS.uploadDocument));
    assert.equal(docAttachment().mimeType, 'application/pdf');
  });

  test('a Dify-style file.file_data document reaches ChatStream as resource.doc with its filename', async () => {
    const res = await s.client().chat.completions.create({
      model: 'step-auto',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarise' }, { type: 'file', file: { file_data: dataUrl('notes.docx'), filename: 'notes.docx' } } as never] }],
    });
    assert.ok(res.choices[0]!.message.content);
    const doc = docAttachment();
    assert.equal(doc.name, 'notes.docx');
    assert.equal(doc.mimeType, FILE_FIXTURES['notes.docx']!.mime);
    assert.equal(s.emu.uploads.at(-1)!.size, FILE_FIXTURES['notes.docx']!.bytes.length);
  });

  test('a document type the upstream refuses is a clear 400 and leaves no upstream chat', async () => {
    const created = s.emu.stats().chatsCreated;
    const zip = `data:application/zip;base64,${Buffer.from('PK\x03\x04 not really a zip').toString('base64')}`;
    await assert.rejects(s.client().chat.completions.create(ask(zip, 'file')), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /StepChat refused the document/);
      return true;
    });
    assert.equal(s.emu.stats().chatsCreated, created);
  });
});

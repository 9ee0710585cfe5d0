// @dialect yuewen
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type OpenAI from 'openai';
import { FILE_FIXTURES, generatedSlice, yuewenUploads } from './emulator/index.js';
import { collectStream, startStack, waitFor, type Stack } from './helpers.js';

type Part = OpenAI.Chat.Completions.ChatCompletionContentPart;

const _DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dataUrl = (name: string) => `data:${FILE_FIXTURES[name]!.mime};base64,${FILE_FIXTURES[name]!.bytes.toString('base64')}`;

/** What the upstream message should carry for one file. */
interface Expected {
  name: string;
  mime: string;
  bytes: Buffer;
  width?: number;
  height?: number;
}

const fixture = (name: string): Expected => ({ ...FILE_FIXTURES[name]! });

// Uploads are implemented for the yuewen dialect (PUT /api/storage + GetFileStatus), so these suites pin it.
describe('attachments reach the upstream message', () => {
  let s: Stack;
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'attach-test-'));
    s = await startStack({
      emulator: { dialect: 'yuewen', uploadPolls: 1 },
      config: { STEP_DIALECT: 'yuewen', ATTACHMENT_ALLOW_HOSTS: '127.0.0.1', ATTACHMENT_TMP_DIR: tmp, ATTACHMENT_POLL_INITIAL_MS: 20, ATTACHMENT_POLL_MAX_MS: 80 },
    });
  });
  after(async () => {
    await s.settled();
    await s.close();
    await rm(tmp, { recursive: true, force: true });
  });

  /** Sends one user message with `parts` (stream or not) and returns what the upstream received. */
  async function send(parts: Part[], stream: boolean) {
    const messages = [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'What is in this?' }, ...parts] }];
    const uploadsBefore = s.emu.uploads.length;
    if (stream) {
      const { content } = await collectStream(await s.client().chat.completions.create({ model: 'step', messages, stream: true }));
      assert.ok(content.length > 0);
    } else {
      const res = await s.client().chat.completions.create({ model: 'step', messages });
      assert.ok(res.choices[0]!.message.content);
    }
    return { message: s.emu.messages.at(-1)!, uploads: yuewenUploads(s.emu.uploads.slice(uploadsBefore)) };
  }

  function assertCarries(got: Awaited<ReturnType<typeof send>>, expected: Expected[]) {
    assert.equal(got.message.attachments.length, expected.length);
    assert.equal(got.uploads.length, expected.length);
    expected.forEach((want, i) => {
      const att = got.message.attachments[i] as Record<string, string>;
      const upload = got.uploads.find((u) => u.id === att.attachmentId)!;
      assert.ok(upload, `attachment ${i} was uploaded`);
      assert.deepEqual(att, {
        attachmentType: want.mime,
        attachmentId: upload.id,
        name: want.name,
        width: want.width === undefined ? 'undefined' : String(want.width),
        height: want.height === undefined ? 'undefined' : String(want.height),
        size: String(want.bytes.length),
      });
      assert.equal(upload.name, want.name);
      assert.equal(upload.mime, want.mime);
      assert.equal(upload.size, want.bytes.length);
      assert.equal(upload.sha256, sha256(want.bytes), 'the upstream received the same bytes');
      assert.equal(upload.deviceId, got.message.deviceId, 'uploaded with the account that sends the message');
    });
  }

  for (const stream of [false, true]) {
    const mode = stream ? 'stream' : 'non-stream';

    test(`an image by URL arrives with its name, type, size and dimensions (${mode})`, async () => {
      assertCarries(await send([{ type: 'image_url', image_url: { url: `${s.emu.url}/files/photo.jpg` } }], stream), [fixture('photo.jpg')]);
    });

    test(`an image as a base64 data URL arrives named after its type (${mode})`, async () => {
      const got = await send([{ type: 'image_url', image_url: { url: dataUrl('pixel.png') } }], stream);
      assertCarries(got, [{ ...fixture('pixel.png'), name: 'image-1.png' }]);
    });

    test(`a PDF via file_url arrives as application/pdf (${mode})`, async () => {
      const part = { type: 'file', file_url: { url: `${s.emu.url}/files/report.pdf` } } as unknown as Part;
      assertCarries(await send([part], stream), [fixture('report.pdf')]);
    });

    test(`a Dify-style file.file_data document arrives with its filename (${mode})`, async () => {
      const got = await send([{ type: 'file', file: { file_data: dataUrl('notes.docx'), filename: 'notes.docx' } }], stream);
      assertCarries(got, [fixture('notes.docx')]);
    });
  }

  test('a 300 kB file with a Content-Length streams through with every byte intact', async () => {
    const part = { type: 'file', file_url: { url: `${s.emu.url}/files/big.pdf?bytes=300000` } } as unknown as Part;
    assertCarries(await send([part], false), [{ name: 'big.pdf', mime: 'application/pdf', bytes: generatedSlice('pdf', 0, 300_000) }]);
  });

  test('a file without Content-Length goes through a temporary file that is removed afterwards', async () => {
    const part = { type: 'file', file_url: { url: `${s.emu.url}/files/big.pdf?bytes=300000&chunked` } } as unknown as Part;
    assertCarries(await send([part], true), [{ name: 'big.pdf', mime: 'application/pdf', bytes: generatedSlice('pdf', 0, 300_000) }]);
    await s.settled();
    // Removed once the response is over (asynchronously, after its last byte): waited for, not raced.
    await waitFor(() => readdirSync(tmp).length === 0, 'the temporary file removed', 10_000);
  });

  test('the type comes from the magic bytes when the origin says octet-stream, the name from Content-Disposition', async () => {
    const url = `${s.emu.url}/files/pixel.png?type=application/octet-stream&disposition=${encodeURIComponent('截图 1.png')}`;
    assertCarries(await send([{ type: 'image_url', image_url: { url } }], false), [{ ...fixture('pixel.png'), name: '截图 1.png' }]);
  });

  test('a name without an extension gets the one of its type', async () => {
    const got = await send([{ type: 'file', file: { file_data: dataUrl('report.pdf'), filename: 'quarterly' } }], false);
    assertCarries(got, [{ ...fixture('report.pdf'), name: 'quarterly.pdf' }]);
  });

  test('a redirect to a file is followed', async () => {
    const url = `${s.emu.url}/files/redirect?hops=2&to=${encodeURIComponent('/files/photo.jpg')}`;
    assertCarries(await send([{ type: 'image_url', image_url: { url } }], false), [fixture('photo.jpg')]);
  });

  test('several attachments upload in parallel and keep their order', async () => {
    const parts: Part[] = [
      { type: 'image_url', image_url: { url: `${s.emu.url}/files/photo.jpg` } },
      { type: 'file', file: { file_data: dataUrl('report.pdf'), filename: 'report.pdf' } },
      { type: 'image_url', image_url: { url: dataUrl('pixel.png') } },
    ];
    // Each file takes 2 s to process: uploads one after another (each waiting for the previous to be
    // ready) would land 2 s apart, parallel ones land together even on a loaded machine.
    s.emu.configure({ uploadProcessingMs: 2000 });
    const got = await send(parts, false).finally(() => s.emu.configure({ uploadProcessingMs: 0 }));
    assertCarries(got, [fixture('photo.jpg'), fixture('report.pdf'), { ...fixture('pixel.png'), name: 'image-3.png' }]);
    const lastUpload = Math.max(...got.uploads.map((u) => u.uploadedAt));
    const firstReady = Math.min(...got.uploads.map((u) => u.polls.at(-1)!));
    assert.ok(lastUpload <= firstReady, 'every file was uploaded before any finished processing');
  });

  test('attachments of earlier turns are not uploaded again', async () => {
    const uploads = s.emu.uploads.length;
    await s.client().chat.completions.create({
      model: 'step',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: `${s.emu.url}/files/photo.jpg` } }] },
        { role: 'assistant', content: 'A photo.' },
        { role: 'user', content: 'What colour is it?' },
      ],
    });
    assert.equal(s.emu.uploads.length, uploads);
    assert.deepEqual(s.emu.messages.at(-1)!.attachments, []);
  });

  test('a session that expired during the request is refreshed and the streamed file fetched again', async () => {
    await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'warm up' }] });
    await s.settled(); // or the warm-up's chat deletion would meet the expiry first
    s.emu.expireAccessTokens();
    const logins = s.emu.stats().registerDevice;
    const fetches = () => s.emu.requests.filter((r) => r.path === '/files/big.pdf').length;
    const fetched = fetches();
    const part = { type: 'file', file_url: { url: `${s.emu.url}/files/big.pdf?bytes=200000` } } as unknown as Part;
    assertCarries(await send([part], false), [{ name: 'big.pdf', mime: 'application/pdf', bytes: generatedSlice('pdf', 0, 200_000) }]);
    assert.equal(s.emu.stats().registerDevice - logins, 1);
    assert.equal(fetches() - fetched, 2, 'the first stream went to the refused upload, so the origin was asked again');
  });
});

describe('polling the upstream for a processed file', () => {
  let s: Stack;
  // Backoff under test: 40 ms first, ×1.5 per poll, at most 100 ms.
  const SCHEDULE = [40, 60, 90, 100, 100];
  before(async () => {
    s = await startStack({
      emulator: { dialect: 'yuewen' },
      config: { STEP_DIALECT: 'yuewen', ATTACHMENT_ALLOW_HOSTS: '127.0.0.1', ATTACHMENT_POLL_INITIAL_MS: 40, ATTACHMENT_POLL_MAX_MS: 100 },
    });
  });
  after(async () => {
    await s.settled();
    await s.close();
  });

  const image = (): Part[] => [{ type: 'image_url', image_url: { url: dataUrl('pixel.png') } }];
  const ask = (parts: Part[]) =>
    s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, ...parts] }] });

  test('a file ready after N polls is polled exactly N+1 times, on the backoff schedule', async () => {
    for (const n of [0, 1, 4]) {
      s.emu.configure({ uploadPolls: n, uploadProcessingMs: 0 });
      await ask(image());
      const upload = yuewenUploads(s.emu.uploads).at(-1)!;
      assert.equal(upload.polls.length, n + 1, `ready after ${n} polls`);
      const gaps = upload.polls.map((t, i) => t - (i === 0 ? upload.uploadedAt : upload.polls[i - 1]!));
      gaps.forEach((gap, i) => {
        // Timers never fire early, so the lower bound is exact; they do fire late on a loaded machine,
        // so the upper one only catches a wait of a different order (the next step of a ×3 backoff, a
        // one-second sleep of its own); the schedule's speed is `npm run bench`'s business.
        assert.ok(gap >= SCHEDULE[i]! - 2, `poll ${i} waited ${gap} ms, schedule says ${SCHEDULE[i]}`);
        assert.ok(gap < SCHEDULE[i]! + 500, `poll ${i} waited ${gap} ms, schedule says ${SCHEDULE[i]}`);
      });
    }
  });

  test('a file that takes time to process adds at most one poll interval of waiting', async () => {
    s.emu.configure({ uploadPolls: 0, uploadProcessingMs: 250 });
    const sent = s.emu.messages.length;
    await ask(image());
    const upload = yuewenUploads(s.emu.uploads).at(-1)!;
    const readyPoll = upload.polls.at(-1)!;
    assert.equal(upload.polls.filter((t) => t >= upload.readyAt).length, 1, 'one poll after the file was ready');
    // On a loaded machine the first poll may already come after readiness.
    const interval = readyPoll - (upload.polls.at(-2) ?? upload.uploadedAt);
    assert.ok(interval < 100 + 500, `the last interval was ${interval} ms, the cap is 100`);
    assert.ok(readyPoll - upload.readyAt <= interval, `waited ${readyPoll - upload.readyAt} ms past readiness`);
    assert.equal(s.emu.messages.length, sent + 1);
  });
});

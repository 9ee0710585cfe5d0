// @dialect yuewen
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { FILE_FIXTURES, yuewenUploads } from './emulator/index.js';
import { postAbortable, startStack, waitFor, type Stack } from './helpers.js';

type Part = OpenAI.Chat.Completions.ChatCompletionContentPart;

const MAX_BYTES = 256 * 1024;
const pngData = `data:image/png;base64,${FILE_FIXTURES['pixel.png']!.bytes.toString('base64')}`;

// Uploads are implemented for the yuewen dialect (PUT /api/storage + GetFileStatus), so these suites pin it.
describe('attachment failures are OpenAI-shaped errors and leave no upstream chat', () => {
  let s: Stack;
  let tmp: string;
  let chatsBefore = 0;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'attach-errors-'));
    s = await startStack({
      emulator: { dialect: 'yuewen', uploadPolls: 0 },
      config: {
        STEP_DIALECT: 'yuewen',
        ATTACHMENT_ALLOW_HOSTS: '127.0.0.1',
        ATTACHMENT_TMP_DIR: tmp,
        ATTACHMENT_MAX_BYTES: MAX_BYTES,
        ATTACHMENT_MAX_COUNT: 3,
        ATTACHMENT_FETCH_TIMEOUT_MS: 400,
        ATTACHMENT_POLL_INITIAL_MS: 10,
        ATTACHMENT_POLL_MAX_MS: 50,
        ATTACHMENT_POLL_DEADLINE_MS: 300,
      },
    });
  });
  beforeEach(() => {
    chatsBefore = s.emu.stats().chatsCreated;
  });
  afterEach(async () => {
    await s.settled();
    assert.equal(s.emu.stats().chatsCreated, chatsBefore, 'no call of the test created an upstream chat, not even later');
    assert.equal(s.emu.stats().liveChats, 0);
    assert.deepEqual(await readdir(tmp), [], 'no temporary file is left');
    s.emu.configure({ uploadProcessingMs: 0, uploadFailStatus: 0 });
  });
  after(async () => {
    await s.close();
    await rm(tmp, { recursive: true, force: true });
  });

  /** Runs one failing call and checks that it created no upstream chat (the after-hook sees only the last call). */
  async function noChatFrom<T>(call: () => Promise<T>): Promise<T> {
    const before = s.emu.stats().chatsCreated;
    const result = await call();
    assert.equal(s.emu.stats().chatsCreated, before, 'this call created no upstream chat');
    return result;
  }

  /** Posts one user message with `parts`; checks status, shape and code, and that no chat was created; returns the message. */
  async function expectError(parts: unknown[], status: number, code: string, stream = false): Promise<string> {
    const res = await noChatFrom(() => s.post({ model: 'step', stream, messages: [{ role: 'user', content: [{ type: 'text', text: 'read this' }, ...parts] }] }));
    assert.equal(res.status, status);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const { error } = (await res.json()) as { error: { message: string; type: string; param: unknown; code: string } };
    assert.equal(error.code, code);
    assert.equal(error.type, status >= 500 ? 'upstream_error' : 'invalid_request_error');
    assert.ok('param' in error);
    return error.message;
  }
  const file = (url: string) => ({ type: 'file', file_url: { url } });
  const image = (url: string) => ({ type: 'image_url', image_url: { url } });

  test('bad base64 in a data URL is a 400 the SDK raises as BadRequestError', async () => {
    const parts: Part[] = [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR*w0K!!' } }];
    await noChatFrom(() => assert.rejects(s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: parts }] }), OpenAI.BadRequestError));
    assert.match(await expectError([image('data:image/png;base64,iVBOR*w0K!!')], 400, 'attachment_invalid'), /base64/);
  });

  test('a data URL without data, a file part without a source and a non-http scheme are 400s', async () => {
    await expectError([image('data:image/png;base64')], 400, 'attachment_invalid');
    await expectError([image('data:image/png;base64,')], 400, 'attachment_invalid');
    await expectError([{ type: 'file', file: { filename: 'x.pdf' } }], 400, 'attachment_invalid');
    assert.match(await expectError([file('ftp://files.example/a.pdf')], 400, 'attachment_invalid'), /ftp/);
    await expectError([file('file:///etc/passwd')], 400, 'attachment_invalid');
  });

  test('an origin answering 404 or 500 is a 400 naming its host and status but not the query', async () => {
    for (const code of [404, 500]) {
      const message = await expectError([file(`${s.emu.url}/files/status/${code}?signature=s3cr3t`)], 400, 'attachment_fetch');
      assert.ok(message.includes(new URL(s.emu.url).host), message);
      assert.match(message, new RegExp(`HTTP ${code}`));
      assert.doesNotMatch(message, /s3cr3t|signature/);
    }
  });

  test('an origin that does not answer in time is a 400 naming its host', async () => {
    const message = await expectError([file(`${s.emu.url}/files/report.pdf?delay=2000`)], 400, 'attachment_fetch');
    assert.match(message, /timed out/);
    assert.ok(message.includes(new URL(s.emu.url).host));
  });

  test('an origin that stalls mid-file while it streams upstream is a 400, in stream mode too', async () => {
    const url = `${s.emu.url}/files/big.pdf?bytes=200000&stallAfter=65536`;
    assert.match(await expectError([file(url)], 400, 'attachment_fetch'), /timed out/);
    assert.match(await expectError([file(url)], 400, 'attachment_fetch', true), /timed out/);
  });

  test('too many redirects is a 400', async () => {
    assert.match(await expectError([image(`${s.emu.url}/files/redirect?hops=9`)], 400, 'attachment_fetch'), /redirects/);
  });

  test('a file over the limit is a 413 whether its size is announced or only counted', async () => {
    await expectError([file(`${s.emu.url}/files/big.pdf?bytes=${MAX_BYTES + 1}`)], 413, 'attachment_too_large');
    // No Content-Length: the limit strikes while the bytes stream into the temporary file.
    await expectError([file(`${s.emu.url}/files/big.pdf?bytes=${4 * MAX_BYTES}&chunked`)], 413, 'attachment_too_large');
    const big = Buffer.alloc(MAX_BYTES + 10, 1).toString('base64');
    await expectError([{ type: 'file', file: { file_data: `data:application/pdf;base64,${big}`, filename: 'big.pdf' } }], 413, 'attachment_too_large');
  });

  test('more attachments than allowed is a 400', async () => {
    assert.match(await expectError(Array.from({ length: 4 }, () => image(pngData)), 400, 'attachment_invalid'), /at most 3/);
  });

  test('a forbidden address is a 400', async () => {
    await expectError([image('http://169.254.169.254/latest/meta-data/')], 400, 'attachment_forbidden');
  });

  test('an upload the upstream refuses is a 502, in stream mode too', async () => {
    s.emu.failNext('Upload', 500);
    await expectError([image(pngData)], 502, 'attachment_upload');
    s.emu.failNext('Upload', 500);
    await expectError([image(`${s.emu.url}/files/photo.jpg`)], 502, 'attachment_upload', true);
  });

  test('a failure status from GetFileStatus is a 502 naming the status', async () => {
    for (const status of [12, 22, 59, 404]) {
      s.emu.configure({ uploadFailStatus: status });
      assert.match(await expectError([image(pngData)], 502, 'attachment_upload'), new RegExp(`file status ${status}`));
    }
  });

  test('a file still processing at the deadline is a 502', async () => {
    s.emu.configure({ uploadProcessingMs: 5000 });
    assert.match(await expectError([image(pngData)], 502, 'attachment_upload'), /not processed within 300 ms/);
  });

  test('a client that leaves while its file is processed stops the polling and no chat is created', async () => {
    s.emu.configure({ uploadProcessingMs: 5000 });
    const uploads = s.emu.uploads.length;
    const leave = new AbortController();
    const body = { model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'read' }, file(`${s.emu.url}/files/big.pdf?bytes=200000&chunked`)] }] };
    const pending = postAbortable(s, body, leave.signal);
    await waitFor(() => s.emu.uploads.length > uploads && yuewenUploads(s.emu.uploads).at(-1)!.polls.length > 0, 'the upload is being polled');
    const atAbort = yuewenUploads(s.emu.uploads).at(-1)!.polls.length;
    leave.abort();
    await pending;
    // Past the 300 ms poll deadline: polling that went on (every 50 ms at most) would have polled
    // several times more; one poll already on the wire when the client left may still land.
    await sleep(600);
    const later = yuewenUploads(s.emu.uploads).at(-1)!.polls.length;
    assert.ok(later - atAbort <= 1, `${later - atAbort} polls after the client left`);
  });

  test('one failing attachment fails the request and the others are not left half-done', async () => {
    const parts = [file(`${s.emu.url}/files/big.pdf?bytes=200000&chunked`), file(`${s.emu.url}/files/status/404`)];
    await expectError(parts, 400, 'attachment_fetch');
  });
});

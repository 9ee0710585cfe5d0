import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { FILE_FIXTURES, generatedSlice, startEmulator, YUEWEN_PATHS, yuewenUploads, type Emulator } from './index.js';
import { webHeaders } from './web-headers.js';

// The file origins and the upload calls, checked with plain fetch over real HTTP.

let em: Emulator;
before(async () => {
  em = await startEmulator({ uploadPolls: 2 });
});
after(() => em.close());

/** Logs an account in and returns the headers of its `/api` calls. */
async function session(): Promise<Record<string, string>> {
  const { deviceId, userToken } = em.addAccount();
  const oasis = webHeaders('yuewen', em.url, deviceId);
  const res = await fetch(em.url + YUEWEN_PATHS.registerDevice, {
    method: 'POST',
    headers: { ...oasis, 'content-type': 'application/json', cookie: `Oasis-Token=${userToken}; Oasis-Webid=${deviceId}` },
    body: '{}',
  });
  const { accessToken, refreshToken } = (await res.json()) as { accessToken: { raw: string }; refreshToken: { raw: string } };
  return { ...oasis, cookie: `Oasis-Token=${accessToken.raw}...${refreshToken.raw}; Oasis-Webid=${deviceId}` };
}

function put(headers: Record<string, string>, body: Buffer, size = body.length, name = 'a.png') {
  return fetch(`${em.url}${YUEWEN_PATHS.upload}?file_name=${encodeURIComponent(name)}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'image/png', 'stepchat-meta-size': String(size), 'stepchat-meta-width': '3', 'stepchat-meta-height': '2' },
    body: new Uint8Array(body),
  });
}

async function status(headers: Record<string, string>, id: string) {
  const res = await fetch(em.url + YUEWEN_PATHS.getFileStatus, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ id }),
  });
  return (await res.json()) as { fileStatus?: number; needFurtherCall?: boolean };
}

test('fixtures are served with their type and length, or chunked on request', async () => {
  const res = await fetch(`${em.url}/files/photo.jpg`);
  assert.equal(res.headers.get('content-type'), 'image/jpeg');
  assert.equal(Number(res.headers.get('content-length')), FILE_FIXTURES['photo.jpg']!.bytes.length);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), FILE_FIXTURES['photo.jpg']!.bytes);
  const chunked = await fetch(`${em.url}/files/big.pdf?bytes=100000&chunked`);
  assert.equal(chunked.headers.get('content-length'), null);
  assert.deepEqual(Buffer.from(await chunked.arrayBuffer()), generatedSlice('pdf', 0, 100_000));
});

test('redirects, statuses and missing files answer as asked', async () => {
  const hop = await fetch(`${em.url}/files/redirect?hops=1`, { redirect: 'manual' });
  assert.equal(hop.status, 302);
  const end = await fetch(`${em.url}/files/redirect?hops=1`);
  assert.deepEqual(Buffer.from(await end.arrayBuffer()), FILE_FIXTURES['pixel.png']!.bytes);
  assert.equal((await fetch(`${em.url}/files/status/503`)).status, 503);
  assert.equal((await fetch(`${em.url}/files/nothing.bin`)).status, 404);
});

test('an upload is recorded and reports ready after the configured polls', async () => {
  const headers = await session();
  const bytes = FILE_FIXTURES['pixel.png']!.bytes;
  const res = await put(headers, bytes);
  assert.equal(res.status, 200);
  const { id } = (await res.json()) as { id: string };
  assert.deepEqual(await status(headers, id), { fileStatus: 2, needFurtherCall: true });
  assert.deepEqual(await status(headers, id), { fileStatus: 2, needFurtherCall: true });
  assert.deepEqual(await status(headers, id), { fileStatus: 1 });
  const upload = yuewenUploads(em.uploads).find((u) => u.id === id)!;
  assert.equal(upload.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual([upload.name, upload.mime, upload.size, upload.width, upload.height, upload.polls.length], ['a.png', 'image/png', bytes.length, '3', '2', 3]);
});

test('an upload whose declared size differs from the bytes received is refused', async () => {
  const res = await put(await session(), Buffer.alloc(100), 99);
  assert.equal(res.status, 400);
  assert.match(((await res.json()) as { message: string }).message, /99 bytes but 100 arrived/);
});

test('uploads need a session, and one account cannot see another account’s file', async () => {
  const res = await put({ ...webHeaders('yuewen', em.url, 'nobody'), cookie: 'Oasis-Webid=nobody' }, Buffer.alloc(10));
  assert.equal(res.status, 401);
  const { id } = (await (await put(await session(), Buffer.alloc(10))).json()) as { id: string };
  assert.deepEqual(await status(await session(), id), { fileStatus: 404, needFurtherCall: false });
});

test('failNext and uploadFailStatus make uploads fail', async () => {
  const headers = await session();
  em.failNext('Upload', 500);
  assert.equal((await put(headers, Buffer.alloc(10))).status, 500);
  em.configure({ uploadPolls: 0, uploadFailStatus: 59 });
  const { id } = (await (await put(headers, Buffer.alloc(10))).json()) as { id: string };
  assert.deepEqual(await status(headers, id), { fileStatus: 59 });
  em.configure({ uploadPolls: 2, uploadFailStatus: 0 });
});

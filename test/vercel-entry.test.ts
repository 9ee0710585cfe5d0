import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRequestHandler } from '../src/vercel.js';
import { answerFor, startEmulator, type Emulator } from './emulator/index.js';
import { DIALECT, parseSse, waitFor } from './helpers.js';

describe('the Vercel entry serves the app through a plain node http server', () => {
  let emu: Emulator;
  let server: Server;
  let url = '';
  let token = '';
  before(async () => {
    emu = await startEmulator({ dialect: DIALECT, frames: 20 });
    token = emu.addAccount().token;
    const handler = createRequestHandler({ STEP_DIALECT: DIALECT, STEP_BASE_URL: emu.url, LOG_LEVEL: 'silent', DATA_DIR: '', CONVERSATION_MODE: 'off' });
    server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await emu.close();
  });
  const post = (content: string, stream: boolean) =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ model: 'step', stream, messages: [{ role: 'user', content }] }),
    });

  test('a plain completion is exact and its upstream chat is deleted', async () => {
    const res = await post('vercel plain 你好', false);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    assert.equal(body.choices[0]!.message.content, answerFor('vercel plain 你好').join(''));
    await waitFor(() => emu.stats().liveChats === 0, 'upstream chat deleted');
  });

  test('a streamed completion is exact and its upstream chat is deleted', async () => {
    const res = await post('vercel stream 月亮', true);
    assert.equal(res.status, 200);
    const { data } = parseSse(await res.text());
    assert.equal(data.at(-1), '[DONE]');
    const content = data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '').join('');
    assert.equal(content, answerFor('vercel stream 月亮').join(''));
    await waitFor(() => emu.stats().liveChats === 0, 'upstream chat deleted');
  });
});

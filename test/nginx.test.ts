// @dialect capy
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { answerFor } from './emulator/index.js';
import { parseSse, suiteStack, waitFor } from './helpers.js';

const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('behind a real nginx running deploy/nginx.conf', () => {
  // Keep-alives every 300 ms; nginx gives up after 1 s of upstream silence.
  const s = suiteStack({ config: { SSE_KEEPALIVE_MS: 300, NONSTREAM_KEEPALIVE_MS: 300 } });
  let nginx: ChildProcess;
  let prefix: string;
  let base: string;

  before(async () => {
    assert.ok(existsSync(NGINX), `${NGINX} missing: apt-get install nginx (as .ci/run does)`);
    prefix = mkdtempSync(join(tmpdir(), 'step-gateway-nginx-'));
    mkdirSync(join(prefix, 'logs'));
    const port = await freePort();
    const site = readFileSync('deploy/nginx.conf', 'utf8')
      .replace('server 127.0.0.1:8000;', `server ${new URL(s.baseUrl).host};`)
      .replace('listen 80;', `listen 127.0.0.1:${port};`)
      .replace(/proxy_read_timeout \d+s;/, 'proxy_read_timeout 1s;');
    writeFileSync(join(prefix, 'site.conf'), site);
    writeFileSync(
      join(prefix, 'nginx.conf'),
      `daemon off; master_process off; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  include ${prefix}/site.conf;
}
`,
    );
    nginx = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    base = `http://127.0.0.1:${port}`;
    const until = Date.now() + 10_000;
    for (;;) {
      const ok = await fetch(`${base}/ping`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > until || nginx.exitCode !== null) throw new Error(`nginx did not start: ${readFileSync(join(prefix, 'logs/error.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    nginx?.kill('SIGTERM');
    await new Promise((r) => (nginx.exitCode === null ? nginx.once('exit', r) : r(null)));
    rmSync(prefix, { recursive: true, force: true });
  });

  const post = (body: unknown, auth = `Bearer ${s.token}`) =>
    fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  test('stream chunks reach the client while the upstream is still producing them', async () => {
    const started = s.emu.stats().streamsCompleted;
    const res = await post({ model: 'step', stream: true, messages: [{ role: 'user', content: 'through nginx #delay:150 #len:12' }] });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('"content":"')) {
      const step = await reader.read();
      assert.ok(!step.done, 'stream ended before any content');
      text += decoder.decode(step.value, { stream: true });
    }
    // The first content is here, and the emulator has not finished this stream yet.
    assert.equal(s.emu.stats().streamsCompleted, started, 'nginx held the chunks back until the stream ended');
    for (let step = await reader.read(); !step.done; step = await reader.read()) text += decoder.decode(step.value, { stream: true });
    assert.ok(text.trimEnd().endsWith('data: [DONE]'));
    await waitFor(() => s.emu.stats().streamsCompleted === started + 1, 'stream completed upstream');
  });

  test('a stream silent for longer than proxy_read_timeout survives thanks to keep-alive comments', async () => {
    const res = await post({ model: 'step', stream: true, messages: [{ role: 'user', content: 'quiet start #slow:2500' }] });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^: keep-alive/m);
    assert.ok(text.trimEnd().endsWith('data: [DONE]'), text.slice(-200));
    const { data } = parseSse(text);
    const content = data.slice(0, -1).map((d) => JSON.parse(d).choices[0].delta.content ?? '').join('');
    assert.equal(content, answerFor('quiet start #slow:2500').join(''));
  });

  test('a non-stream answer slower than proxy_read_timeout survives with NONSTREAM_KEEPALIVE_MS', async () => {
    const res = await post({ model: 'step', messages: [{ role: 'user', content: 'slow json #slow:2500' }] });
    assert.equal(res.status, 200);
    const body = JSON.parse(await res.text()) as { choices: Array<{ message: { content: string } }> };
    assert.equal(body.choices[0]!.message.content, answerFor('slow json #slow:2500').join(''));
  });

  test('errors keep their status and OpenAI body through nginx', async () => {
    const unauth = await post({ model: 'step', messages: [{ role: 'user', content: 'x' }] }, 'Bearer nonsense');
    assert.equal(unauth.status, 401);
    const direct = await s.post({ model: 'step', messages: [{ role: 'user', content: 'x' }] }, { authorization: 'Bearer nonsense' });
    assert.deepEqual(await unauth.json(), await direct.json());
    const bad = await post('{not json');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_json');
  });
});

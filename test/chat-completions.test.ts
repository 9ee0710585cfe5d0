import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answerFor, FILE_FIXTURES } from './emulator/index.js';
import { collectStream, DIALECT, parseSse, suiteStack } from './helpers.js';

/** The answer a client should see for an emulator answer with markers: `[n]` for web markers. */
function numbered(raw: string, sources: number): string {
  const ids = new Map<string, number>();
  return raw.replace(/<(web|url|unknown)_([\w-]*)>/g, (_m, kind: string, id: string) => {
    if (kind !== 'web') return '';
    if (!ids.has(id)) ids.set(id, ids.size + 1);
    const n = ids.get(id)!;
    return n <= sources ? `[${n}]` : '';
  });
}

describe('chat completions against the emulator', () => {
  const s = suiteStack();

  test('a non-streamed completion returns exactly the upstream answer', async () => {
    const prompt = 'Tell me about the Yangtze 长江 🌊';
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }] });
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0]!.message.role, 'assistant');
    assert.equal(res.choices[0]!.message.content, answerFor(prompt).join(''));
    assert.equal(res.choices[0]!.finish_reason, 'stop');
    assert.ok(res.usage!.prompt_tokens > 0 && res.usage!.completion_tokens > 0);
    assert.equal(res.usage!.total_tokens, res.usage!.prompt_tokens + res.usage!.completion_tokens);
  });

  test('a streamed completion returns exactly the upstream answer', async () => {
    const prompt = 'stream me a poem 关于月亮';
    const stream = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], stream: true });
    const { content, chunks } = await collectStream(stream);
    assert.equal(content, answerFor(prompt).join(''));
    assert.ok(chunks.length > 3);
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id on every chunk');
  });

  test('200 streamed completions in a row under random fragmentation lose no character', async () => {
    const client = s.client();
    for (let i = 0; i < 200; i++) {
      const prompt = `question ${i} 第${i}个问题`;
      const stream = await client.chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], stream: true });
      const { content } = await collectStream(stream);
      assert.equal(content, answerFor(prompt).join(''), `completion ${i}`);
    }
  });

  test('the SSE stream has the framing, headers and chunk shapes OpenAI clients expect', async () => {
    const res = await s.post(
      { model: 'step', messages: [{ role: 'user', content: 'framing' }], stream: true, stream_options: { include_usage: true } },
      { origin: 'https://chat.example' },
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    // Browser clients (LobeChat, NextChat) read the stream only with CORS headers on it.
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('cache-control') ?? '', /^no-cache/);
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    assert.equal(res.headers.get('content-encoding'), null);
    const { data } = parseSse(await res.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk.choices, []);
    assert.ok(usageChunk.usage.completion_tokens > 0);
    const choiceChunks = chunks.slice(0, -1);
    assert.deepEqual(choiceChunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const last = choiceChunks.at(-1);
    assert.deepEqual(last.choices[0].delta, {});
    assert.equal(last.choices[0].finish_reason, 'stop');
    for (const c of choiceChunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.choices[0].index, 0);
      assert.equal(c.usage, null);
      assert.equal(typeof c.created, 'number');
      assert.equal(c.model, 'step');
    }
    assert.equal(choiceChunks.map((c) => c.choices[0].delta.content ?? '').join(''), answerFor('framing').join(''));
  });

  test('without include_usage no usage chunk is sent', async () => {
    const res = await s.post({ model: 'step', messages: [{ role: 'user', content: 'no usage' }], stream: true });
    assert.equal(res.status, 200);
    const { data } = parseSse(await res.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.ok(chunks.length > 2, 'a role chunk, content and a finish chunk');
    assert.ok(chunks.every((c) => c.choices.length === 1 && !('usage' in c)), 'no chunk carries usage');
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), answerFor('no usage').join(''));
  });

  test('Dify credential validation (max_tokens 5, no stream) gets a chat.completion', async () => {
    const res = await s.post({ model: 'step', max_tokens: 5, messages: [{ role: 'user', content: 'ping' }] }, { accept: 'application/json' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as any;
    assert.equal(body.object, 'chat.completion');
  });

  test('parameters that cannot be honoured are accepted and ignored', async () => {
    const res = await s.post({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }],
      temperature: 0.3, top_p: 0.9, presence_penalty: 0, frequency_penalty: 0, user: 'u1', seed: 7, n: 1,
      response_format: { type: 'text' }, tools: [], max_completion_tokens: 1000, logprobs: false,
      chat_template_kwargs: { x: 1 }, thinking: { type: 'disabled' },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.model, 'gpt-4o');
    assert.equal(body.choices[0].message.content, answerFor('hello').join(''));
  });

  test('a multi-turn dialogue reaches StepChat as one flattened message ending with the latest question', async () => {
    await s.client().chat.completions.create({
      model: 'step',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'What is 2+2?' },
        { role: 'assistant', content: '4' },
        { role: 'user', content: [{ type: 'text', text: 'And times 3?' }] },
      ],
    });
    const sent = s.emu.messages.at(-1)!.text;
    assert.match(sent, /^system: You are terse\.\nuser: What is 2\+2\?\nassistant: 4\n.+\nuser: And times 3\?$/s);
  });

  test('citation markers never reach the client and the sources are appended (stream)', async () => {
    const prompt = 'latest news #search';
    assert.ok(answerFor(prompt).join('').includes('<web_'), 'the emulator answer has markers');
    const stream = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], stream: true });
    const { content } = await collectStream(stream);
    assert.doesNotMatch(content, /<(web|url|unknown)_/);
    assert.match(content, /Sources:\n\[1\] .+ – https?:\/\/\S+\n\[2\] .+ – https?:\/\/\S+\n\[3\] /);
  });

  test('citation markers never reach the client and the sources are appended (non-stream)', async () => {
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'weather #search' }] });
    const content = res.choices[0]!.message.content!;
    assert.doesNotMatch(content, /<(web|url|unknown)_|<we$/);
    assert.match(content, /Sources:\n\[1\] /);
    const raw = answerFor('weather #search').join('');
    assert.equal(content.slice(0, content.indexOf('\n\nSources:')), numbered(raw, 3), 'web markers become [n], the rest is intact');
    assert.match(content, /\[1\]/);
  });

  test('every kind of upstream call carries the full header set the web app sends', async () => {
    const from = s.emu.requests.length;
    // One of each call kind: a refresh (access tokens expired), chat, upload, stream, delete, models.
    s.emu.expireAccessTokens();
    const pixel = `data:image/png;base64,${FILE_FIXTURES['pixel.png']!.bytes.toString('base64')}`;
    await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'headers' }, { type: 'image_url', image_url: { url: pixel } }] }],
    });
    assert.equal((await fetch(`${s.baseUrl}/v1/models`, { headers: { authorization: `Bearer ${s.token}` } })).status, 200);
    await s.settled();
    const calls = [...s.emu.requests.slice(0, 1), ...s.emu.requests.slice(from)].filter((r) => !r.path.startsWith('/files/'));
    const kinds = new Set(calls.map((r) => r.path.split('/').at(-1)));
    const wanted = DIALECT === 'capy'
      ? ['RefreshToken', 'CreateChatSession', 'image', 'ChatStream', 'DeleteChatSession', 'GetChatConfig']
      : ['RegisterDevice', 'CreateChat', 'storage', 'GetFileStatus', 'SendMessageStream', 'DelChat'];
    for (const kind of wanted) assert.ok(kinds.has(kind), `a ${kind} call was made (saw ${[...kinds].join(', ')})`);
    assert.ok(calls.filter((r) => /RefreshToken|RegisterDevice/.test(r.path)).length >= 2, 'the first login and a refresh');
    const deviceId = s.token.split('@')[0];
    for (const [i, { path, headers: h }] of calls.entries()) {
      const expect = (name: string, value: string) => assert.equal(h[name], value, `${name} on ${path}`);
      expect('oasis-appid', '10200');
      expect('oasis-platform', 'web');
      expect('connect-protocol-version', '1');
      expect('x-waf-client-type', 'fetch_sdk');
      expect('oasis-webid', deviceId!);
      expect('origin', s.emu.url);
      expect('referer', `${s.emu.url}/`);
      if (DIALECT === 'capy') {
        expect('oasis-language', 'zh');
        expect('canary', 'false');
      } else {
        expect('oasis-mode', '2');
      }
      assert.match(String(h['user-agent']), /^Mozilla\/5\.0 \((Windows|Macintosh|X11)/, `user-agent on ${path}`);
      assert.match(String(h.cookie), new RegExp(`(^|; )Oasis-Webid=${deviceId}(;|$)`), `Oasis-Webid cookie on ${path}`);
      // The first login may present the bare user token; every later call presents the pair.
      if (i > 0) assert.match(String(h.cookie), /(^|; )Oasis-Token=[^;]+\.\.\.[^;]+/, `Oasis-Token pair on ${path}`);
    }
  });
});

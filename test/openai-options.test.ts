import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { answerFor } from './emulator/index.js';
import { collectStream, DIALECT, suiteStack, waitFor } from './helpers.js';

// Usage is compared with gpt-tokenizer's own count (o200k), not with the service's code.
const tokens = (text: string) => countTokens(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() });

/** A prompt, its paced upstream answer, and a stop sequence made of the end of frame 3 and the start of frame 4. */
function splitStop(tag: string) {
  // Paced, so the upstream is still sending when the stop sequence arrives.
  const prompt = `${tag} #delay:40`;
  const frames = answerFor(prompt, 20);
  const tail = Array.from(frames[3]!).slice(-2).join('');
  const head = Array.from(frames[4]!).slice(0, 2).join('');
  const stop = tail + head;
  const whole = frames.join('');
  return { prompt, stop, expected: whole.slice(0, whole.indexOf(stop)) };
}

describe('stop sequences', () => {
  const s = suiteStack();

  async function assertAbortedAndDeleted(prompt: string, abortedBefore: number) {
    const msg = s.emu.messages.find((m) => m.text === prompt);
    assert.ok(msg, 'the upstream got the prompt');
    await waitFor(() => s.emu.stats().streamsAborted > abortedBefore, 'the upstream stream aborted');
    await waitFor(() => s.emu.chatContext(msg.chatId) === undefined, 'the upstream chat deleted');
    assert.ok(msg.answer.length < answerFor(prompt, 20).join('').length, 'the upstream did not finish the answer');
  }

  test('a stop sequence split across frames cuts the non-stream answer exactly before it', async () => {
    const { prompt, stop, expected } = splitStop('stop non-stream');
    const aborted = s.emu.stats().streamsAborted;
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], stop: [stop] });
    assert.equal(res.choices[0]!.message.content, expected);
    assert.equal(res.choices[0]!.finish_reason, 'stop');
    await assertAbortedAndDeleted(prompt, aborted);
  });

  test('a stop sequence split across frames cuts the streamed answer exactly before it', async () => {
    const { prompt, stop, expected } = splitStop('stop stream');
    const aborted = s.emu.stats().streamsAborted;
    const stream = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: prompt }],
      stop: ['never-in-the-answer', stop],
      stream: true,
    });
    const { content, chunks } = await collectStream(stream);
    assert.equal(content, expected);
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
    await assertAbortedAndDeleted(prompt, aborted);
  });

  test('a stop sequence that never occurs leaves the answer whole', async () => {
    const prompt = 'stop absent';
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], stop: 'zzz-not-there' });
    assert.equal(res.choices[0]!.message.content, answerFor(prompt, 20).join(''));
  });
});

describe('max_tokens', () => {
  const s = suiteStack();

  test('max_tokens: 5 returns at most 5 tokens with finish_reason "length"', async () => {
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'cap me #delay:20' }], max_tokens: 5 });
    const content = res.choices[0]!.message.content ?? '';
    assert.ok(content.length > 0);
    assert.ok(tokens(content) <= 5, `${tokens(content)} tokens: ${content}`);
    assert.ok(answerFor('cap me #delay:20', 20).join('').startsWith(content));
    assert.equal(res.choices[0]!.finish_reason, 'length');
    assert.equal(res.usage!.completion_tokens, tokens(content));
  });

  test('max_completion_tokens cuts a stream too', async () => {
    const stream = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: 'cap the stream' }],
      max_completion_tokens: 7,
      stream: true,
    });
    const { content, chunks } = await collectStream(stream);
    assert.ok(tokens(content) <= 7 && tokens(content) >= 5, `${tokens(content)} tokens`);
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'length');
  });

  test("Dify's credential check returns 200, JSON, object chat.completion", async () => {
    const res = await s.post({ model: 'step', max_tokens: 5, messages: [{ role: 'user', content: 'ping' }] });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as { object: string; choices: { finish_reason: string; message: { content: string } }[] };
    assert.equal(body.object, 'chat.completion');
    assert.ok(body.choices[0]!.message.content.length > 0);
  });
});

describe('usage counts what went upstream and what came back', () => {
  const s = suiteStack();
  const messages = [
    { role: 'system' as const, content: 'You count tokens. 你好 🚀' },
    { role: 'user' as const, content: 'How many tokens is this?' },
  ];

  // README: counted with the o200k tokenizer, so the counts are exact, not estimates.
  const exactly = (got: number, want: number) => assert.equal(got, want);

  test('non-stream usage equals the tokenizer count of the upstream prompt and of the answer', async () => {
    const res = await s.client().chat.completions.create({ model: 'step', messages });
    const sent = s.emu.messages.at(-1)!.text;
    assert.ok(sent.includes('How many tokens'), 'the flattened history went upstream');
    exactly(res.usage!.prompt_tokens, tokens(sent));
    exactly(res.usage!.completion_tokens, tokens(res.choices[0]!.message.content!));
    assert.equal(res.usage!.total_tokens, res.usage!.prompt_tokens + res.usage!.completion_tokens);
  });

  test('the include_usage chunk equals the tokenizer count of the upstream prompt and of the streamed answer', async () => {
    const stream = await s.client().chat.completions.create({ model: 'step', messages, stream: true, stream_options: { include_usage: true } });
    const { content, chunks } = await collectStream(stream);
    const usage = chunks.at(-1)!.usage!;
    exactly(usage.prompt_tokens, tokens(s.emu.messages.at(-1)!.text));
    exactly(usage.completion_tokens, tokens(content));
  });

  test('reasoning counts in completion_tokens and in completion_tokens_details.reasoning_tokens', { skip: DIALECT !== 'capy' }, async () => {
    const res = await s.client().chat.completions.create({ model: 'step', messages, reasoning_effort: 'high' });
    const msg = res.choices[0]!.message as { content: string; reasoning_content?: string };
    assert.ok(msg.reasoning_content);
    const reasoning = tokens(msg.reasoning_content);
    assert.equal(res.usage!.completion_tokens_details!.reasoning_tokens, reasoning);
    exactly(res.usage!.completion_tokens, tokens(msg.content) + reasoning);
  });
});

describe('n', () => {
  const s = suiteStack();

  test('n: 2 is a 400 naming n', async () => {
    const res = await s.post({ model: 'step', n: 2, messages: [{ role: 'user', content: 'two please' }] });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { message: string; type: string } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /\bn\b/);
    assert.equal(s.emu.stats().chatsCreated, 0, 'nothing reached the upstream');
  });

  test('n: 1 is accepted', async () => {
    const res = await s.post({ model: 'step', n: 1, messages: [{ role: 'user', content: 'one please' }] });
    assert.equal(res.status, 200);
  });
});

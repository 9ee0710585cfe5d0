import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type OpenAI from 'openai';
import { answerFor, CALL_PROSE } from './emulator/index.js';
import { collectStream, parseSse, suiteStack } from './helpers.js';
import { MARKUP, streamedCalls, TIME, WEATHER, type Chunk } from './tool-fixtures.js';

const tokens = (text: string) => countTokens(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() });

describe('tool calls', () => {
  const s = suiteStack();
  const ask = (prompt: string, extra: Partial<OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming> = {}) =>
    s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], tools: [WEATHER, TIME], ...extra });
  const askStream = async (prompt: string, extra: Partial<OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming> = {}) =>
    collectStream(await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], tools: [WEATHER, TIME], stream: true, ...extra }));

  const prose: Record<string, string | null> = { own: null, fence: CALL_PROSE, hermes: null, bare: null };
  for (const format of ['own', 'fence', 'hermes', 'bare']) {
    test(`a call in the ${format} format is one tool call with its name and arguments (non-stream)`, async () => {
      const res = await ask(`weather please #tool:${format}:get_weather:{"city":"巴黎🗼"}`);
      const choice = res.choices[0]!;
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, prose[format]);
      assert.equal(choice.message.tool_calls?.length, 1);
      const call = choice.message.tool_calls![0]!;
      assert.equal(call.type, 'function');
      assert.match(call.id, /^call_\w+$/);
      assert.ok(call.type === 'function');
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: '巴黎🗼' });
    });

    test(`a call in the ${format} format streams as tool_calls deltas with no markup in content`, async () => {
      const { content, chunks } = await askStream(`stream weather #tool:${format}:get_weather:{"city":"Oslo"}`);
      assert.equal(content, prose[format] ?? '');
      assert.doesNotMatch(content, MARKUP);
      const calls = streamedCalls(chunks);
      assert.equal(calls.length, 1);
      assert.equal(calls[0]!.name, 'get_weather');
      assert.ok(calls[0]!.firstHadAll, 'the first delta of the call carries id, type and name');
      assert.deepEqual(JSON.parse(calls[0]!.arguments), { city: 'Oslo' });
      assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'tool_calls');
    });
  }

  test('two calls in one answer are two tool calls with distinct ids, in order', async () => {
    const prompt = 'both #tool:own:get_weather:{"city":"Rome"} #tool:own:get_time:{"zone":"Europe/Rome"}';
    const res = await ask(prompt);
    const calls = res.choices[0]!.message.tool_calls!.map((c) => (c.type === 'function' ? c : assert.fail('not a function call')));
    assert.deepEqual(calls.map((c) => c.function.name), ['get_weather', 'get_time']);
    assert.notEqual(calls[0]!.id, calls[1]!.id);
    assert.deepEqual(JSON.parse(calls[1]!.function.arguments), { zone: 'Europe/Rome' });
    const { chunks } = await askStream(prompt.replace('both', 'both streamed'));
    const streamed = streamedCalls(chunks);
    assert.deepEqual(streamed.map((c) => c.name), ['get_weather', 'get_time']);
    assert.notEqual(streamed[0]!.id, streamed[1]!.id);
  });

  test('two Hermes-style blocks are two calls; with parallel_tool_calls false only the first', async () => {
    const prompt = 'two tags #tool:hermes:get_weather:{"city":"Lima"} #tool:hermes:get_time:{"zone":"America/Lima"}';
    const both = await ask(prompt);
    assert.equal(both.choices[0]!.message.tool_calls?.length, 2);
    const one = await ask(`${prompt} single`, { parallel_tool_calls: false });
    assert.equal(one.choices[0]!.message.tool_calls?.length, 1);
    assert.equal(one.choices[0]!.finish_reason, 'tool_calls');
  });

  test('a call to a tool that was not offered stays text', async () => {
    const res = await ask('unknown #tool:own:launch_rocket:{"to":"moon"}');
    assert.equal(res.choices[0]!.finish_reason, 'stop');
    assert.equal(res.choices[0]!.message.tool_calls, undefined);
    assert.match(res.choices[0]!.message.content ?? '', /launch_rocket/);
  });

  test('a call block whose JSON does not parse stays text, streamed or not', async () => {
    const res = await ask('broken #tool:broken:get_weather');
    assert.equal(res.choices[0]!.finish_reason, 'stop');
    assert.match(res.choices[0]!.message.content ?? '', /get_weather/);
    const { content, chunks } = await askStream('broken stream #tool:broken:get_weather');
    assert.equal(streamedCalls(chunks).length, 0);
    assert.match(content, /get_weather/);
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
  });

  test('an answer without a call streams exactly as the upstream wrote it, tools offered or not', async () => {
    const prompt = 'just talk, tools are there';
    const { content, chunks } = await askStream(prompt);
    const sent = s.emu.messages.find((m) => m.text.startsWith(prompt))!;
    assert.equal(content, answerFor(sent.text, 20).join(''));
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
    // Text arrives in many chunks as it streams, not held to the end.
    assert.ok(chunks.filter((c) => c.choices[0]?.delta.content).length > 5);
  });

  test('the tool instructions go upstream and count as prompt tokens', async () => {
    const prompt = 'count my tools';
    const res = await ask(prompt);
    const sent = s.emu.messages.find((m) => m.text.startsWith(prompt))!;
    assert.match(sent.text, /get_weather/);
    assert.match(sent.text, /get_time/);
    assert.match(sent.text, /<tool_calls>/);
    assert.equal(res.usage!.prompt_tokens, tokens(sent.text));
  });

  test('tool_choice "none" sends no tool instructions upstream', async () => {
    const prompt = 'no tools now';
    const res = await ask(prompt, { tool_choice: 'none' });
    const sent = s.emu.messages.find((m) => m.text.startsWith(prompt))!;
    assert.equal(sent.text, prompt);
    assert.equal(res.choices[0]!.message.content, answerFor(prompt, 20).join(''));
  });

  test('a named tool_choice makes the instruction name only that tool, and insist', async () => {
    const prompt = 'only the clock';
    await ask(prompt, { tool_choice: { type: 'function', function: { name: 'get_time' } } });
    const sent = s.emu.messages.find((m) => m.text.startsWith(prompt))!;
    assert.match(sent.text, /get_time/);
    assert.doesNotMatch(sent.text, /get_weather/);
    assert.match(sent.text, /must call get_time/);
    const other = await ask('clock only, model disobeys #tool:own:get_weather:{"city":"Bonn"}', { tool_choice: { type: 'function', function: { name: 'get_time' } } });
    assert.equal(other.choices[0]!.message.tool_calls, undefined, 'a call to a tool the choice excluded is not a call');
    const required = 'some tool, any';
    await ask(required, { tool_choice: 'required' });
    assert.match(s.emu.messages.find((m) => m.text.startsWith(required))!.text, /must call at least one tool/);
  });

  test('tool history goes upstream with the call name, its arguments and the result; the next answer is text', async () => {
    const first = 'weather in Bern? #tool:own:get_weather:{"city":"Bern"}';
    const res = await ask(first);
    const call = res.choices[0]!.message.tool_calls![0]!;
    assert.ok(call.type === 'function');
    const next = await s.client().chat.completions.create({
      model: 'step',
      tools: [WEATHER, TIME],
      messages: [
        { role: 'user', content: first },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: [{ type: 'text', text: '21C and sunny #answered' }] },
      ],
    });
    const sent = s.emu.messages.at(-1)!.text;
    assert.match(sent, /get_weather/);
    assert.ok(sent.includes('{"city":"Bern"}'), sent);
    assert.match(sent, /result of get_weather \{"city":"Bern"\}:\n21C and sunny/);
    assert.equal(next.choices[0]!.finish_reason, 'stop');
    assert.equal(next.choices[0]!.message.tool_calls, undefined);
    assert.equal(next.choices[0]!.message.content, answerFor(sent, 20).join(''));
  });

  test('legacy functions get message.function_call and finish_reason "function_call"', async () => {
    const res = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: 'legacy #tool:own:get_weather:{"city":"Kyiv"}' }],
      functions: [WEATHER.type === 'function' ? WEATHER.function : assert.fail()],
    });
    assert.equal(res.choices[0]!.finish_reason, 'function_call');
    assert.equal(res.choices[0]!.message.function_call?.name, 'get_weather');
    assert.deepEqual(JSON.parse(res.choices[0]!.message.function_call!.arguments), { city: 'Kyiv' });
  });

  test('Dify agent request shape: streamed deltas accumulate by index into the call', async () => {
    const res = await s.post({
      model: 'step',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'system', content: 'You are an agent.' }, { role: 'user', content: 'dify #tool:fence:get_weather:{"city":"Hangzhou"}' }],
      tools: [WEATHER],
      tool_choice: 'auto',
      temperature: 0.2,
      user: 'abc',
    });
    assert.equal(res.status, 200);
    const { data } = parseSse(await res.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    const calls = streamedCalls(chunks);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0]!.arguments), { city: 'Hangzhou' });
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.deepEqual(finish.map((c) => c.choices[0]!.finish_reason), ['tool_calls']);
    assert.ok(chunks.at(-1)!.usage!.completion_tokens > 0);
  });

  test('the openai SDK runTools loop calls the tool and ends with the answer', async () => {
    let called: unknown;
    const runner = s.client().chat.completions.runTools({
      model: 'step',
      messages: [{ role: 'user', content: 'run tools #tool:own:get_weather:{"city":"Nairobi"}' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather of a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            parse: JSON.parse,
            function: (args: { city: string }) => {
              called = args;
              return '25C #answered';
            },
          },
        },
      ],
    });
    const answer = await runner.finalContent();
    assert.deepEqual(called, { city: 'Nairobi' });
    assert.ok(answer && answer.length > 0);
    assert.match(s.emu.messages.at(-1)!.text, /result of get_weather \{"city":"Nairobi"\}:\n25C/);
  });
});

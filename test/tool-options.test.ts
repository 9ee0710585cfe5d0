import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type OpenAI from 'openai';
import { parseSse, suiteStack } from './helpers.js';
import { MARKUP, streamedCalls, WEATHER, type Chunk, type Tool } from './tool-fixtures.js';

describe('tool options that cannot be honoured', () => {
  const s = suiteStack();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a tool_choice naming a tool not offered', { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'nope' } } }, /tool_choice: "nope" is not one of the offered tools/],
    ['an unknown tool_choice word', { tools: [WEATHER], tool_choice: 'sometimes' }, /tool_choice: "sometimes"/],
    ['a tool of another type', { tools: [{ type: 'code_interpreter' }] }, /tools\[0\]\.type: "code_interpreter" is not supported/],
    ['parameters that are not a JSON schema', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: 5 } } }] }, /tools\[0\]\.function\.parameters: not a valid JSON schema/],
    ['two tools with one name', { tools: [WEATHER, WEATHER] }, /each tool needs its own name/],
    ['a tool name with spaces', { tools: [{ type: 'function', function: { name: 'get weather' } }] }, /tools\[0\]\.function\.name/],
    ['tool_choice required without tools', { tool_choice: 'required' }, /tool_choice: set without any tools/],
    ['an unknown response_format type', { response_format: { type: 'yaml' } }, /response_format\.type: "yaml"/],
    ['json_schema without a schema', { response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, /response_format\.json_schema\.schema: required/],
  ];
  for (const [what, extra, message] of cases) {
    test(`${what} is a 400 that says so, before any upstream chat`, async () => {
      const before = s.emu.messages.length;
      const res = await s.post({ model: 'step', messages: [{ role: 'user', content: 'hi' }], ...extra });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { message: string; type: string } };
      assert.equal(body.error.type, 'invalid_request_error');
      assert.match(body.error.message, message);
      assert.equal(s.emu.messages.length, before);
    });
  }
});

describe('corrective turns for tool calls', () => {
  const s = suiteStack();
  const STRICT: Tool = {
    type: 'function',
    function: { ...(WEATHER.type === 'function' ? WEATHER.function : assert.fail()), strict: true },
  };

  for (const stream of [false, true]) {
    test(`arguments that break a strict tool's schema get one corrective turn in the same chat (${stream ? 'stream' : 'non-stream'})`, async () => {
      const prompt = `strict ${stream} #tool-fix:get_weather:{"city":7}|{"city":"Quito"}`;
      const res = await s.post({ model: 'step', stream, messages: [{ role: 'user', content: prompt }], tools: [STRICT] });
      assert.equal(res.status, 200);
      let calls: { name: string; arguments: string }[];
      let content: string;
      if (stream) {
        const chunks = parseSse(await res.text()).data.slice(0, -1).map((d) => JSON.parse(d) as Chunk);
        calls = streamedCalls(chunks);
        content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
        assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'tool_calls');
      } else {
        const body = (await res.json()) as OpenAI.Chat.Completions.ChatCompletion;
        calls = body.choices[0]!.message.tool_calls!.map((c) => (c.type === 'function' ? c.function : assert.fail()));
        content = body.choices[0]!.message.content ?? '';
        assert.equal(body.choices[0]!.finish_reason, 'tool_calls');
      }
      assert.equal(calls.length, 1);
      assert.deepEqual(JSON.parse(calls[0]!.arguments), { city: 'Quito' });
      assert.doesNotMatch(content, MARKUP);
      const first = s.emu.messages.find((m) => m.text.startsWith(prompt))!;
      const correction = s.emu.messages.find((m) => m.chatId === first.chatId && m.turn === 2);
      assert.ok(correction, 'the correction went into the same chat');
      assert.match(correction.text, /arguments of get_weather do not match its schema: \/city must be string/);
    });
  }

  test('a strict call still wrong after the corrective turn is not a call: it stays text', async () => {
    const res = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: 'strict, no luck #tool:own:get_weather:{"city":7}' }],
      tools: [STRICT],
    });
    assert.equal(res.choices[0]!.finish_reason, 'stop');
    assert.equal(res.choices[0]!.message.tool_calls, undefined);
    assert.match(res.choices[0]!.message.content ?? '', /"city":7/);
    assert.equal(s.emu.messages.filter((m) => m.text.includes('tool call was not valid')).length > 0, true);
  });

  for (const choice of ['required', { type: 'function', function: { name: 'get_weather' } }] as const) {
    test(`tool_choice ${JSON.stringify(choice)} and an answer without a call: one corrective turn brings the call`, async () => {
      const prompt = `must call ${JSON.stringify(choice)} #tool-late:get_weather:{"city":"Baku"}`;
      const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], tools: [WEATHER], tool_choice: choice });
      assert.equal(res.choices[0]!.finish_reason, 'tool_calls');
      const call = res.choices[0]!.message.tool_calls![0]!;
      assert.ok(call.type === 'function');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Baku' });
      const first = s.emu.messages.find((m) => m.text.startsWith(prompt))!;
      const correction = s.emu.messages.find((m) => m.chatId === first.chatId && m.turn === 2)!;
      assert.match(correction.text, /must call (a tool|get_weather)/);
    });
  }

  test('tool_choice "auto" and an answer without a call: no corrective turn', async () => {
    const prompt = 'auto, no call #tool-late:get_weather:{"city":"Baku"}';
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], tools: [WEATHER] });
    assert.equal(res.choices[0]!.finish_reason, 'stop');
    const first = s.emu.messages.find((m) => m.text.startsWith(prompt))!;
    assert.equal(s.emu.messages.filter((m) => m.chatId === first.chatId).length, 1);
  });

  test('without strict, arguments that break the schema are passed on as the model wrote them', async () => {
    const res = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: 'loose #tool:own:get_weather:{"city":7}' }],
      tools: [WEATHER],
    });
    const call = res.choices[0]!.message.tool_calls![0]!;
    assert.ok(call.type === 'function');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 7 });
  });
});

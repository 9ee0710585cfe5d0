import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { collectStream, suiteStack } from './helpers.js';

const PERSON = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
  additionalProperties: false,
};
const isPerson = new Ajv().compile(PERSON);
const schemaFormat = (strict: boolean) => ({ type: 'json_schema' as const, json_schema: { name: 'person', schema: PERSON, strict } });

describe('response_format', () => {
  const s = suiteStack();
  const ask = (content: string, response_format: Record<string, unknown>) =>
    s.post({ model: 'step', messages: [{ role: 'user', content }], response_format });

  test('json_schema: content is the bare JSON, without the fence and chatter around it', async () => {
    const res = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: 'who? #json:{"name":"Ada","age":36}' }],
      response_format: schemaFormat(true),
    });
    const content = res.choices[0]!.message.content!;
    assert.equal(content, '{"name":"Ada","age":36}');
    assert.ok(isPerson(JSON.parse(content)));
    assert.equal(res.choices[0]!.finish_reason, 'stop');
    const sent = s.emu.messages.find((m) => m.text.startsWith('who?'))!.text;
    assert.match(sent, /\[Format\] Reply with one JSON value matching this JSON schema/);
  });

  test('json_schema streamed: the JSON streams from its first character and nothing follows its end', async () => {
    const stream = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: 'stream who? #json:{"name":"Grace","age":85}' }],
      response_format: schemaFormat(false),
      stream: true,
    });
    const { content, chunks } = await collectStream(stream);
    assert.equal(content, '{"name":"Grace","age":85}');
    assert.ok(isPerson(JSON.parse(content)));
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
  });

  test('json_object: the content parses as JSON', async () => {
    const res = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: 'object #json:{"ok":true,"list":[1,{"a":"}"}]}' }],
      response_format: { type: 'json_object' },
    });
    assert.deepEqual(JSON.parse(res.choices[0]!.message.content!), { ok: true, list: [1, { a: '}' }] });
  });

  test('an answer without JSON gets one corrective turn in the same upstream chat', async () => {
    const res = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: 'fix me #json-fix:{"name":"Alan","age":41}' }],
      response_format: schemaFormat(true),
    });
    assert.equal(res.choices[0]!.message.content, '{"name":"Alan","age":41}');
    const first = s.emu.messages.find((m) => m.text.startsWith('fix me'))!;
    const second = s.emu.messages.find((m) => m.chatId === first.chatId && m.turn === 2)!;
    assert.ok(second, 'the correction went into the same chat');
    assert.match(second.text, /no JSON/);
    // Both messages sent upstream are prompt tokens.
    assert.equal(res.usage!.prompt_tokens, countTokens(`${first.text}\n${second.text}`, { allowedSpecial: new Set(), disallowedSpecial: new Set() }));
  });

  test('no JSON even after the corrective turn is a 502 that says so, streamed or not', async () => {
    for (const stream of [false, true]) {
      const before = s.emu.messages.length;
      const res = await s.post({ model: 'step', stream, messages: [{ role: 'user', content: `plain words ${stream}` }], response_format: { type: 'json_object' } });
      assert.equal(res.status, 502);
      const body = (await res.json()) as { error: { message: string; code: string } };
      assert.match(body.error.message, /did not answer with valid JSON.*no JSON.*corrective turn/);
      assert.equal(body.error.code, 'invalid_json_output');
      assert.equal(s.emu.messages.length - before, 2, 'the question and one correction');
    }
  });

  test('strict: JSON that breaks the schema is corrected, then refused; without strict it is returned', async () => {
    const strict = await ask('wrong shape #json:{"name":5}', schemaFormat(true));
    assert.equal(strict.status, 502);
    assert.match(((await strict.json()) as { error: { message: string } }).error.message, /also after a corrective turn/);
    const first = s.emu.messages.find((m) => m.text.startsWith('wrong shape #json'))!;
    const correction = s.emu.messages.find((m) => m.chatId === first.chatId && m.turn === 2)!;
    assert.match(correction.text, /does not match the schema: \(root\) must have required property .age./);
    const loose = await ask('wrong shape, loose #json:{"name":5}', schemaFormat(false));
    assert.equal(loose.status, 200);
    const body = (await loose.json()) as { choices: { message: { content: string } }[] };
    assert.deepEqual(JSON.parse(body.choices[0]!.message.content), { name: 5 });
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collectStream, DIALECT, suiteStack } from './helpers.js';

describe(`protocol drift (${DIALECT})`, () => {
  const s = suiteStack({ emulator: { fragment: false } });

  test('a riskEvent ends the answer with finish_reason content_filter and the text so far (non-streaming)', async () => {
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'tell me #fault:risk' }] });
    assert.equal(res.choices[0]!.finish_reason, 'content_filter');
    assert.equal(res.choices[0]!.message.content, s.emu.messages.at(-1)!.answer);
    assert.ok(res.choices[0]!.message.content);
  });

  test('a riskEvent ends a stream with finish_reason content_filter', async () => {
    const stream = await s.client().chat.completions.create({ model: 'step', stream: true, messages: [{ role: 'user', content: 'tell me #fault:risk' }] });
    const { content, chunks } = await collectStream(stream);
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'content_filter');
    assert.equal(content, s.emu.messages.at(-1)!.answer);
  });

  test('an ordinary answer still ends with finish_reason stop', async () => {
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'plain' }] });
    assert.equal(res.choices[0]!.finish_reason, 'stop');
  });
});

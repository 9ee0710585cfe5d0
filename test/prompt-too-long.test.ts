import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DIALECT, suiteStack } from './helpers.js';

describe(`an over-long prompt (${DIALECT})`, () => {
  const s = suiteStack({ emulator: { fragment: false } });

  test('gets 400 context_length_exceeded after exactly one upstream attempt, not retried on the other account', async () => {
    const other = s.emu.addAccount();
    const before = s.emu.messages.length;
    const res = await s.post({ model: 'step', messages: [{ role: 'user', content: 'x'.repeat(120_001) }] }, { authorization: `Bearer ${s.token},${other.token}` });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'context_length_exceeded');
    assert.equal(s.emu.messages.length - before, 1);
  });
});

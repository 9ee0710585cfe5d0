import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { suiteStack } from './helpers.js';

const ask = { model: 'step', messages: [{ role: 'user', content: 'hi' }] };

describe('made-up tokens cost the upstream little', () => {
  const s = suiteStack({ emulator: { loginDelayMs: 50 } });

  test('the same rejected token sent 50 times costs at most a few logins', async () => {
    s.emu.reset();
    for (let i = 0; i < 50; i++) {
      const res = await s.post(ask, { authorization: 'Bearer deadbeef@never-a-real-token' });
      assert.equal(res.status, 401);
      await res.arrayBuffer();
    }
    const logins = s.emu.stats().registerDevice;
    assert.ok(logins >= 1 && logins <= 3, `${logins} logins for one rejected token`);
  });

  test('concurrent requests with never-seen tokens log in a few at a time', async () => {
    s.emu.reset();
    const statuses = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const res = await s.post(ask, { authorization: `Bearer device${i}@made-up-${i}` });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    assert.deepEqual(new Set(statuses), new Set([401]));
    assert.equal(s.emu.stats().registerDevice, 24, 'every new token was tried once');
    assert.ok(s.emu.stats().maxConcurrentLogins <= 4, `${s.emu.stats().maxConcurrentLogins} logins ran at once`);
  });

  test('a real token still works while made-up ones are being refused', async () => {
    const answer = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'real one' }] });
    assert.ok(answer.choices[0]!.message.content);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, replicaSuite, type ServiceProcess } from './processes.js';

// Two replicas journal their upstream chats in one Redis; when one is killed with SIGKILL its lease
// runs out and the survivor's sweeper deletes the chats it left.

describe('two replicas sharing a Redis', () => {
  const rs = replicaSuite({ frames: 20, env: { REPLICA_LEASE_MS: '3000' } });


  test('the chats of a replica killed during three streams are deleted by the other one', async () => {
    const [victim, survivor] = rs.replicas as [ServiceProcess, ServiceProcess];
    const client = victim.client(rs.token);
    const streams = [1, 2, 3].map((i) =>
      client.chat.completions
        .create({ model: 'step', stream: true, messages: [{ role: 'user', content: `#fault:stall replica ${i}` }] })
        .then(async (s) => {
          for await (const _ of s);
        })
        .catch(() => undefined),
    );
    await eventually(() => rs.emu.stats().activeStreams === 3, 'three upstream streams');
    await victim.kill();
    await Promise.all(streams);
    assert.equal(rs.emu.stats().liveChats, 3, 'the killed replica deleted nothing');

    await eventually(() => rs.emu.stats().liveChats === 0, 'the chats deleted by the survivor', 20_000);
    assert.equal(rs.emu.stats().chatsDeleted, 3);
    assert.match(survivor.output(), /deleting upstream chats left by a process that died/);
  });

  test('the survivor keeps its own chats while it runs', async () => {
    const survivor = rs.replicas[1]!;
    const r = await survivor.client(rs.token).chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'still here' }] });
    assert.ok(r.choices[0]?.message.content);
    await eventually(() => rs.emu.stats().liveChats === 0, 'its chat deleted after the answer');
    assert.doesNotMatch(survivor.output(), /could not delete upstream chat/);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, replicaSuite, type ServiceProcess } from './processes.js';

// Behind a balancer turn 2 of a conversation may reach the other replica: the kept upstream
// chat is found through Redis and continued there, exactly once.

describe('a kept conversation shared by two replicas', () => {
  const rs = replicaSuite({ frames: 5, env: { CONVERSATION_MODE: 'auto', REPLICA_LEASE_MS: '3000' } });

  test('turn 2 on the other replica continues the same upstream chat, turn 3 back on the first one too', async () => {
    const [a, b] = rs.replicas as [ServiceProcess, ServiceProcess];
    const history: { role: 'user' | 'assistant'; content: string }[] = [{ role: 'user', content: 'my name is Ada' }];
    const turn = async (r: ServiceProcess) => {
      const res = await r.client(rs.token).chat.completions.create({ model: 'step', messages: history });
      history.push({ role: 'assistant', content: res.choices[0]!.message.content! });
    };
    await turn(a);
    history.push({ role: 'user', content: 'what is my name?' });
    await turn(b);
    history.push({ role: 'user', content: 'and again?' });
    await turn(a);

    const [first, second, third] = rs.emu.messages;
    assert.equal(rs.emu.messages.length, 3);
    assert.equal(second!.chatId, first!.chatId, 'turn 2 went into the chat of turn 1');
    assert.equal(third!.chatId, first!.chatId, 'turn 3 too');
    assert.deepEqual(rs.emu.messages.map((m) => m.turn), [1, 2, 3]);
    assert.equal(second!.text, 'what is my name?', 'only the new turn was sent');
    assert.equal(rs.emu.stats().chatsCreated, 1);
  });

  test('the kept chats of a replica killed with SIGKILL are deleted by the other, where turn 2 starts afresh', async () => {
    const [a, b] = rs.replicas as [ServiceProcess, ServiceProcess];
    const history: { role: 'user' | 'assistant'; content: string }[] = [{ role: 'user', content: 'remember 7' }];
    const first = await a.client(rs.token).chat.completions.create({ model: 'step', messages: history });
    history.push({ role: 'assistant', content: first.choices[0]!.message.content! }, { role: 'user', content: 'which number?' });
    assert.equal(rs.emu.stats().liveChats, 2, 'both conversations kept');
    await a.kill();
    await eventually(() => rs.emu.stats().liveChats === 0, 'the killed replica\'s kept chats deleted by the survivor', 20_000);

    const second = await b.client(rs.token).chat.completions.create({ model: 'step', messages: history });
    assert.ok(second.choices[0]?.message.content);
    const sent = rs.emu.messages.at(-1)!;
    assert.equal(sent.turn, 1, 'a fresh chat, not the deleted one');
    assert.match(sent.text, /remember 7/, 'with the history flattened into it');
  });

  test('stopping the replicas deletes every kept chat', async () => {
    for (const r of rs.replicas) await r.stop();
    await eventually(() => rs.emu.stats().liveChats === 0, 'the kept chat deleted');
    assert.equal(rs.emu.stats().chatsDeleted, rs.emu.stats().chatsCreated);
  });
});

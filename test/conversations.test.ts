import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type OpenAI from 'openai';
import { FILE_FIXTURES, visibleAnswer } from './emulator/index.js';
import { startStack, suiteStack, waitFor } from './helpers.js';

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

const png = FILE_FIXTURES['pixel.png']!;
const image = `data:${png.mime};base64,${png.bytes.toString('base64')}`;

describe('CONVERSATION_MODE=auto continues the upstream chat', () => {
  const s = suiteStack({ config: { CONVERSATION_MODE: 'auto' } });

  /** Sends the history with the openai SDK and appends the answer, as chat apps do. */
  async function turn(history: Message[], text: string, stream = false): Promise<Message[]> {
    const messages: Message[] = [...history, { role: 'user', content: text }];
    let answer = '';
    if (stream) {
      const chunks = await s.client().chat.completions.create({ model: 'step', messages, stream: true });
      for await (const c of chunks) answer += c.choices[0]?.delta.content ?? '';
    } else {
      answer = (await s.client().chat.completions.create({ model: 'step', messages })).choices[0]!.message.content!;
    }
    return [...messages, { role: 'assistant', content: answer }];
  }

  test('a three-turn conversation uses one upstream chat, sends only the new message, and keeps turn 1\'s image', async () => {
    const created = s.emu.stats().chatsCreated;
    const first: Message = {
      role: 'user',
      content: [
        { type: 'text', text: 'Look at this picture (auto)' },
        { type: 'image_url', image_url: { url: image } },
      ],
    };
    const res1 = await s.client().chat.completions.create({ model: 'step', messages: [first] });
    let history: Message[] = [first, { role: 'assistant', content: res1.choices[0]!.message.content! }];
    history = await turn(history, 'What colour is it? (auto)', true);
    history = await turn(history, 'And its size? (auto)');
    const sent = s.emu.messages.slice(-3);
    assert.equal(s.emu.stats().chatsCreated - created, 1, 'one upstream chat');
    assert.equal(new Set(sent.map((m) => m.chatId)).size, 1);
    assert.equal(sent[1]!.text, 'What colour is it? (auto)');
    assert.equal(sent[2]!.text, 'And its size? (auto)');
    assert.deepEqual(sent.map((m) => m.attachments.length), [1, 0, 0], 'the image is uploaded once');
    assert.equal(sent[2]!.turn, 3);
    assert.equal(sent[2]!.contextAttachments!.length, 1, 'turn 3 is answered with the image of turn 1 in context');
    assert.equal(history.at(-1)!.content, visibleAnswer('And its size? (auto)'));
  });

  test('usage counts only the new message when a chat is continued', async () => {
    const history = await turn([], 'count me (auto)');
    const messages: Message[] = [...history, { role: 'user', content: 'and now me (auto)' }];
    const res = await s.client().chat.completions.create({ model: 'step', messages });
    assert.equal(s.emu.messages.at(-1)!.text, 'and now me (auto)');
    assert.ok(res.usage!.prompt_tokens <= 8, `${res.usage!.prompt_tokens} prompt tokens`);
  });

  test('an edited turn-1 message gets a fresh chat with the history flattened', async () => {
    const history = await turn([], 'original question (auto)');
    const chat = s.emu.messages.at(-1)!.chatId;
    const edited: Message[] = [{ role: 'user', content: 'edited question (auto)' }, history[1]!];
    await turn(edited, 'follow-up (auto)');
    const sent = s.emu.messages.at(-1)!;
    assert.notEqual(sent.chatId, chat);
    assert.match(sent.text, /edited question \(auto\)[\s\S]*follow-up \(auto\)$/);
  });

  test('another caller with the same history does not continue the chat', async () => {
    const history = await turn([], 'whose chat is this (auto)');
    const chat = s.emu.messages.at(-1)!.chatId;
    const other = s.emu.addAccount();
    await s.client(other.token).chat.completions.create({ model: 'step', messages: [...history, { role: 'user', content: 'mine now?' }] });
    assert.notEqual(s.emu.messages.at(-1)!.chatId, chat);
  });

  test('a cut answer (stop) is not kept: its chat is deleted', async () => {
    const prompt = 'cut and forget (auto) #delay:30';
    const res = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: prompt }], max_tokens: 3 });
    assert.equal(res.choices[0]!.finish_reason, 'length');
    const chat = s.emu.messages.at(-1)!.chatId;
    await waitFor(() => s.emu.chatContext(chat) === undefined, 'the cut chat deleted');
  });
});

describe('kept chats are bounded and go away', () => {
  test('after CONVERSATION_TTL_MS of idleness the emulator shows 0 live chats', async () => {
    const s = await startStack({ config: { CONVERSATION_MODE: 'auto', CONVERSATION_TTL_MS: 300 } });
    try {
      await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'keep me briefly' }] });
      assert.equal(s.emu.stats().liveChats, 1, 'the chat is kept for the next turn');
      await waitFor(() => s.emu.stats().liveChats === 0, 'the kept chat deleted after the TTL');
    } finally {
      await s.close();
    }
  });

  test('100 one-shot completions leave at most CONVERSATION_MAX_KEPT live chats', async () => {
    const s = await startStack({ config: { CONVERSATION_MODE: 'auto', CONVERSATION_MAX_KEPT: 4 } });
    try {
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: `one-shot ${batch}-${i}` }] }),
          ),
        );
      }
      await s.settled();
      assert.equal(s.emu.stats().chatsCreated, 100);
      assert.ok(s.emu.stats().liveChats <= 4, `${s.emu.stats().liveChats} live chats`);
      assert.equal(s.emu.stats().liveChats, 4);
    } finally {
      await s.close();
    }
  });

  test('shutting the service down deletes every kept chat', async () => {
    const s = await startStack({ config: { CONVERSATION_MODE: 'auto' } });
    try {
      await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'kept until shutdown' }] });
      assert.equal(s.emu.stats().liveChats, 1);
      await s.restart();
      assert.equal(s.emu.stats().liveChats, 0);
    } finally {
      await s.close();
    }
  });

  test('a kept chat whose account fails is dropped and the conversation goes on flattened on another account', async () => {
    const s = await startStack({
      config: (emu) => {
        const pool = [emu.addAccount(), emu.addAccount()];
        return { CONVERSATION_MODE: 'auto', STEP_TOKENS: pool.map((a) => a.token).join(','), API_KEYS: 'sk-conv' };
      },
    });
    try {
      const first = await s.client('sk-conv').chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'on one account' }] });
      const kept = s.emu.messages.at(-1)!;
      // The next upstream send (the continued chat's, on its own account) is refused for that account.
      s.emu.failNext('SendMessageStream', 429, { code: 'resource_exhausted', message: 'slow down' });
      const messages: Message[] = [
        { role: 'user', content: 'on one account' },
        { role: 'assistant', content: first.choices[0]!.message.content! },
        { role: 'user', content: 'still there?' },
      ];
      const res = await s.client('sk-conv').chat.completions.create({ model: 'step', messages });
      assert.ok(res.choices[0]!.message.content);
      const sent = s.emu.messages.at(-1)!;
      assert.notEqual(sent.chatId, kept.chatId);
      assert.match(sent.text, /on one account[\s\S]*still there\?$/, 'the history went flattened');
      await waitFor(() => s.emu.chatContext(kept.chatId) === undefined, 'the kept chat of the failed account deleted');
    } finally {
      await s.settled();
      await s.close();
    }
  });
});

describe('CONVERSATION_MODE=id', () => {
  const s = suiteStack({ config: { CONVERSATION_MODE: 'id' } });

  test('a reply id continues the conversation by conversation_id (body) and X-Conversation-Id (header)', async () => {
    const first = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'remember 42 (id)' }] });
    const chat = s.emu.messages.at(-1)!.chatId;
    const second = await s.client().chat.completions.create({
      model: 'step',
      messages: [{ role: 'user', content: 'what number? (id)' }],
      conversation_id: first.id,
    } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming);
    assert.equal(s.emu.messages.at(-1)!.chatId, chat);
    assert.equal(s.emu.messages.at(-1)!.text, 'what number? (id)');
    const res = await s.post({ model: 'step', messages: [{ role: 'user', content: 'again? (id)' }] }, { 'x-conversation-id': second.id });
    assert.equal(res.status, 200);
    assert.equal(s.emu.messages.at(-1)!.chatId, chat);
    assert.equal(s.emu.messages.at(-1)!.turn, 3);
  });

  test('an unknown conversation_id is a 404 in the OpenAI shape', async () => {
    const res = await s.post({ model: 'step', messages: [{ role: 'user', content: 'hello?' }], conversation_id: 'chatcmpl-nope' });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: { message: string; type: string; code: string } };
    assert.match(body.error.message, /chatcmpl-nope/);
    assert.equal(body.error.code, 'conversation_not_found');
  });

  test('without a conversation_id every request starts a fresh chat', async () => {
    await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'fresh a (id)' }] });
    const a = s.emu.messages.at(-1)!.chatId;
    await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'fresh a (id)' }, { role: 'assistant', content: 'x' }, { role: 'user', content: 'b' }] });
    assert.notEqual(s.emu.messages.at(-1)!.chatId, a);
  });
});

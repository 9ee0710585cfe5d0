import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answerFor } from './emulator/index.js';
import { collectStream, DIALECT, startStack, suiteStack } from './helpers.js';

const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'step', messages: [{ role: 'user' as const, content }], ...extra });

describe('web search switch', () => {
  const s = suiteStack({ emulator: { fragment: false } });

  const searched = () => s.emu.messages.at(-1)!.searchEnabled;

  test('use_search: true turns web search on upstream', async () => {
    await s.post(ask('find it', { use_search: true })).then((r) => r.json());
    assert.equal(searched(), true);
  });

  test('use_search: false turns it off', async () => {
    await s.post(ask('do not search', { use_search: false })).then((r) => r.json());
    assert.equal(searched(), false);
  });

  test('a -search model name turns it on, and an explicit use_search: false still wins', async () => {
    const search = DIALECT === 'capy' ? 'step-auto-search' : 'step-search';
    await s.post({ ...ask('via the name'), model: search }).then((r) => r.json());
    assert.equal(searched(), true);
    await s.post({ ...ask('name says yes, flag says no'), model: search, use_search: false }).then((r) => r.json());
    assert.equal(searched(), false);
  });

  test('a searched answer carries [n] references that match the appended source list', async () => {
    const res = await s.client().chat.completions.create({ ...ask('what happened today #search'), stream: true });
    const { content } = await collectStream(res);
    const [body, list] = content.split('\n\nSources:\n');
    const refs = new Set([...body!.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1])));
    const entries = list!.split('\n').map((l) => Number(/^\[(\d+)\]/.exec(l)![1]));
    assert.ok(refs.size > 0, 'the answer cites sources');
    assert.deepEqual(entries, entries.map((_, i) => i + 1), 'sources are numbered 1..n');
    for (const r of refs) assert.ok(entries.includes(r), `reference [${r}] is in the list`);
    assert.doesNotMatch(body!, /<(web|url|unknown)_/);
  });
});

describe('search default', () => {
  test('SEARCH_DEFAULT=true searches when the request does not say', async () => {
    const s = await startStack({ config: { SEARCH_DEFAULT: true }, emulator: { fragment: false } });
    try {
      await s.post(ask('default on')).then((r) => r.json());
      assert.equal(s.emu.messages.at(-1)!.searchEnabled, true);
    } finally {
      await s.settled();
      await s.close();
    }
  });
});

describe('model choice and reasoning (capy)', { skip: DIALECT !== 'capy' }, () => {
  const s = suiteStack();

  test('the requested model reaches the upstream config; unknown names fall back to the default', async () => {
    await s.client().chat.completions.create({ ...ask('pick r1'), model: 'deepseek-r1' });
    assert.equal(s.emu.messages.at(-1)!.model, 'deepseek-r1');
    await s.client().chat.completions.create({ ...ask('pick a made-up one'), model: 'claude-9000' });
    assert.equal(s.emu.messages.at(-1)!.model, 'step-auto');
    assert.match(s.logs.text, /unknown model name/);
  });

  test('a -think model streams reasoning_content before content, never both in one delta', async () => {
    const stream = await s.client().chat.completions.create({ ...ask('think first'), model: 'step-auto-think', stream: true });
    const { content, reasoning, chunks } = await collectStream(stream);
    assert.equal(s.emu.messages.at(-1)!.reasoning, true);
    assert.ok(reasoning.length > 0);
    assert.equal(content, answerFor('think first').join(''));
    const kinds = chunks.map((c) => c.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined).filter(Boolean);
    for (const d of kinds) assert.ok(!(d!.reasoning_content && d!.content), 'no delta carries both');
    const firstContent = kinds.findIndex((d) => d!.content);
    const lastReasoning = kinds.findLastIndex((d) => d!.reasoning_content);
    assert.ok(lastReasoning < firstContent, 'reasoning comes before the answer');
  });

  test('reasoning_effort turns reasoning on, and non-stream replies carry message.reasoning_content', async () => {
    const res = await s.post(ask('effort', { reasoning_effort: 'high' }));
    const body = (await res.json()) as any;
    assert.equal(s.emu.messages.at(-1)!.reasoning, true);
    assert.ok(body.choices[0].message.reasoning_content.length > 0);
    assert.equal(body.choices[0].message.content, answerFor('effort').join(''));
  });

  test('a plain model does not ask for reasoning', async () => {
    await s.client().chat.completions.create(ask('no thinking'));
    assert.equal(s.emu.messages.at(-1)!.reasoning, false);
  });
});

describe('REASONING_OUTPUT (capy)', { skip: DIALECT !== 'capy' }, () => {
  test('think-tags puts the reasoning inline in <think> before the answer', async () => {
    const s = await startStack({ config: { REASONING_OUTPUT: 'think-tags' } });
    try {
      const stream = await s.client().chat.completions.create({ ...ask('tags please'), model: 'step-auto-think', stream: true });
      const { content, reasoning } = await collectStream(stream);
      assert.equal(reasoning, '');
      const m = /^<think>\n([\s\S]+)\n<\/think>\n\n([\s\S]*)$/.exec(content);
      assert.ok(m, 'content starts with a <think> block');
      assert.equal(m[2], answerFor('tags please').join(''));
    } finally {
      await s.settled();
      await s.close();
    }
  });

  test('hidden drops the reasoning', async () => {
    const s = await startStack({ config: { REASONING_OUTPUT: 'hidden' } });
    try {
      const res = await s.client().chat.completions.create({ ...ask('hide it'), model: 'step-auto-think' });
      assert.equal(res.choices[0]!.message.content, answerFor('hide it').join(''));
      assert.equal((res.choices[0]!.message as { reasoning_content?: string }).reasoning_content, undefined);
      assert.equal(s.emu.messages.at(-1)!.reasoning, true);
    } finally {
      await s.settled();
      await s.close();
    }
  });
});

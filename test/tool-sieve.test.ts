import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Delta } from '../src/openai/answer.js';
import { newOutcome, runStages } from '../src/openai/delta-stages.js';
import { toolOptions } from '../src/tools/options.js';
import { toolSieve } from '../src/tools/sieve.js';

// The sieve sees the answer in whatever pieces the upstream sent: the result must not depend on
// where the text was cut.

const TOOLS = toolOptions({
  messages: [{ role: 'user', content: 'x' }],
  tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
})!;

async function sieve(pieces: string[]) {
  const outcome = newOutcome();
  async function* source(): AsyncGenerator<Delta[]> {
    for (const p of pieces) yield [{ content: p }];
  }
  let content = '';
  const calls: { name: string; arguments: string }[] = [];
  for await (const batch of runStages(source(), [toolSieve(TOOLS)], outcome)) {
    for (const d of batch) {
      content += d.content ?? '';
      for (const c of d.tool_calls ?? []) {
        if (c.function.name) calls[c.index] = { name: c.function.name, arguments: '' };
        calls[c.index]!.arguments += c.function.arguments;
      }
    }
  }
  return { content, calls, finish: outcome.finishReason };
}

function cut(text: string, points: number[]): string[] {
  const chars = Array.from(text);
  const at = [...new Set(points.map((p) => p % (chars.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const p of [...at, chars.length]) {
    out.push(chars.slice(from, p).join(''));
    from = p;
  }
  return out;
}

const ANSWERS = [
  'Checking 🌦️ now.\n<tool_calls>\n[{"name":"get_weather","arguments":{"city":"巴黎"}}]\n</tool_calls>',
  '<tool_call>\n{"name":"get_weather","arguments":"{\\"city\\":\\"Oslo\\"}"}\n</tool_call>\nIt is sunny.',
  'Sure.\n```json\n{"name":"get_weather","arguments":{"city":"Rome"}}\n```',
  '  {"name":"get_weather","arguments":{"city":"Lima"}}',
];

test('a call is found the same wherever the answer was cut', async () => {
  for (const answer of ANSWERS) {
    const whole = await sieve([answer]);
    assert.equal(whole.calls.length, 1, answer);
    assert.equal(whole.finish, 'tool_calls');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 30 }), async (points) => {
        assert.deepEqual(await sieve(cut(answer, points)), whole);
      }),
      { numRuns: 150 },
    );
  }
});

test('text without a call comes out unchanged, however it was cut, code fences and angle brackets included', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.constantFrom('a', ' ', '\n', '<', '>', '`', '```', '```js\nx()\n```', '<tool', '{', '}', '你', '🚀', 'tool_call', '</tool_calls>'), { maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      async (parts, points) => {
        const text = `x${parts.join('')}`;
        const out = await sieve(cut(text, points));
        if (out.calls.length === 0) assert.equal(out.content, text);
      },
    ),
    { numRuns: 300 },
  );
});

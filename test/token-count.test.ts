import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { tokenCount } from '../src/openai/token-usage.js';

// Usage counts long prompts a segment at a time and remembers segments it has seen: the sum must
// be the package's own count of the whole text, for any text, on the first count and the next.
const PLAIN = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };

// Pieces where o200k's pre-tokenizer is most likely to join across a line break: white space,
// slashes and punctuation before and after it, contractions, digits, letters of several scripts.
const piece = fc.oneof(
  fc.constantFrom('\n', '\n\n', '\r\n', '\n\n\n', ' \n', '\n ', '\t', ' ', '  ', '/', '//', '.', '.\n', '\n/', "'s", "'", '-', '[Tools]', '{"a":1}', '<|endoftext|>', '123', '4567', '‘', '🚀', '👍🏽'),
  fc.constantFrom('word', 'Word', 'WORD', 'user: ', 'assistant: ', '基准测试', 'Привет', 'ümlaut', 'x'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);
const text = fc.array(piece, { minLength: 1, maxLength: 400, size: 'max' }).map((parts) => parts.join(''));

test('a long text counted by segments gives the whole-text count, counted once or again', () => {
  fc.assert(
    fc.property(text, fc.array(piece, { maxLength: 40 }), (body, prefix) => {
      // Runs of 513 non-space characters are sliced on purpose (README); not what this checks.
      fc.pre(!/\S{513}/.test(body));
      const whole = countTokens(body, PLAIN);
      assert.equal(tokenCount(body), whole);
      assert.equal(tokenCount(body), whole, 'again, from remembered segments');
      // The same paragraphs after another start (a new question before the same tool instructions).
      const other = `${prefix.join('')}\n\n${body}`;
      fc.pre(!/\S{513}/.test(other));
      assert.equal(tokenCount(other), countTokens(other, PLAIN));
    }),
    { numRuns: 400 },
  );
});

test('a prompt with a long tool section and a history is counted exactly', () => {
  const tools = `[Tools] You can call these tools:\n${Array.from({ length: 40 }, (_, i) => `- tool_${i}: {"type":"object","properties":{"city":{"type":"string"}}} Weather for city ${i}.`).join('\n')}\nCall a tool only when it helps.`;
  const history = Array.from({ length: 30 }, (_, i) => `user: question ${i} about /path/${i} 基准\nassistant: answer ${i}. It's fine.`).join('\n');
  for (const question of ['What is the weather?', 'And tomorrow?\n', '/start']) {
    const prompt = `${history}\nuser: ${question}\n\n${tools}`;
    assert.equal(tokenCount(prompt), countTokens(prompt, PLAIN), JSON.stringify(question));
  }
});

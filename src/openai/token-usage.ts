import { countTokens, decode, encode, isWithinTokenLimit } from './o200k-encoding.js';
import type { Delta } from './answer.js';
import type { BatchStage } from './delta-stages.js';

// Text from users and the model may contain "<|endoftext|>" and the like: plain text here.
const PLAIN = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };

/**
 * o200k tokens of a text (the GPT-4o encoding: the upstream reports no usage of its own). Long
 * texts are counted a segment at a time, and segments seen before (tool instructions, a system
 * prompt, the history a client sends again every turn) are not counted again: see `segments`.
 */
export function tokenCount(text: string): number {
  if (text.length < SEGMENT_MIN * 2) return countRuns(text);
  let total = 0;
  for (const [from, to] of segments(text)) total += segmentCount(text, from, to);
  return total;
}

/** Lines are joined into segments of at least this many characters (a paragraph's last may be shorter). */
const SEGMENT_MIN = 256;

/**
 * Where a text can be cut without changing its count. o200k's pre-tokenizer never joins a line
 * break with a following character that is neither white space nor `/` (no pattern of its split
 * expression spans such a boundary), and BPE works within one pre-token, so the count of the text
 * is the sum of the counts of the pieces cut after such line breaks: exactly, as
 * test/token-count.test.ts checks against the whole-text count. A cut is made after every blank
 * line (a paragraph starts a new segment, so the same paragraph after a different prefix is the
 * same segment, such as tool instructions after each new question) and otherwise after the first
 * line break that makes the segment SEGMENT_MIN long.
 */
function* segments(text: string): Generator<[number, number]> {
  let from = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; ) {
    let next = nl + 1;
    while (text.charCodeAt(next) === 10) next++;
    if (next >= text.length) break;
    const c = text.charCodeAt(next);
    if (!isSpace(c) && c !== 47 && (next - nl > 1 || next - from >= SEGMENT_MIN)) {
      yield [from, next];
      from = next;
    }
    nl = text.indexOf('\n', next);
  }
  yield [from, text.length];
}

/** Segments this long or longer are remembered, up to SEGMENT_CACHE_CHARS characters in all (least recently used first out). */
const SEGMENT_CACHE_MIN = 128;
const SEGMENT_CACHE_CHARS = 1 << 20;
const segmentCache = new Map<string, number>();
let segmentCacheChars = 0;

function segmentCount(text: string, from: number, to: number): number {
  const length = to - from;
  if (length < SEGMENT_CACHE_MIN || length > SEGMENT_CACHE_CHARS / 8) return countRuns(text.slice(from, to));
  const segment = text.slice(from, to);
  const known = segmentCache.get(segment);
  if (known !== undefined) {
    // Most recently used last.
    segmentCache.delete(segment);
    segmentCache.set(segment, known);
    return known;
  }
  const count = countRuns(segment);
  // A copy as the key: a slice would keep the whole prompt it was cut from alive.
  segmentCache.set(Buffer.from(segment, 'utf16le').toString('utf16le'), count);
  segmentCacheChars += length;
  for (const key of segmentCache.keys()) {
    if (segmentCacheChars <= SEGMENT_CACHE_CHARS) break;
    segmentCache.delete(key);
    segmentCacheChars -= key.length;
  }
  return count;
}

/** The count of one text, its runs without white space longer than RUN_SLICE in slices. */
function countRuns(text: string): number {
  if (text === '') return 0;
  if (!hasLongRun(text)) return countTokens(text, PLAIN);
  // BPE is quadratic in the length of one pre-token: a 120,000-character run without a space
  // would block the event loop for seconds. Such runs are counted in slices (a slight
  // over-count for pathological input only; ordinary text is counted exactly).
  let total = 0;
  let from = 0;
  for (const m of text.matchAll(LONG_RUN)) {
    if (m.index > from) total += countTokens(text.slice(from, m.index), PLAIN);
    for (let i = 0; i < m[0].length; i += RUN_SLICE) total += countTokens(m[0].slice(i, i + RUN_SLICE), PLAIN);
    from = m.index + m[0].length;
  }
  if (from < text.length) total += countTokens(text.slice(from), PLAIN);
  return total;
}

const RUN_SLICE = 512;

/**
 * Whether `text` holds more than RUN_SLICE non-whitespace code units in a row, as `/\S{513}/`
 * says, in one pass: the regex tried 513 characters from every start and cost as much as the
 * count itself on a long prompt.
 */
function hasLongRun(text: string): boolean {
  if (text.length <= RUN_SLICE) return false;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    if (isSpace(text.charCodeAt(i))) run = 0;
    else if (++run > RUN_SLICE) return true;
  }
  return false;
}

/** JavaScript's `\s`: ASCII and Unicode white space, line terminators and the BOM. */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}
const LONG_RUN = new RegExp(`\\S{${RUN_SLICE + 1},}`, 'g');

/** The longest start of `text` within `limit` tokens, never ending inside a character. */
function firstTokens(text: string, limit: number): string {
  if (limit <= 0) return '';
  return decode(encode(text, PLAIN).slice(0, limit)).replace(/\uFFFD+$/, '');
}

/** The OpenAI `usage` object. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  completion_tokens_details: { reasoning_tokens: number };
}

/**
 * Counts what a completion really exchanged: the text sent upstream (read when usage is asked
 * for, so notes and instructions added late count) and the deltas the client got.
 */
export function createUsageMeter(promptText: () => string) {
  let content = '';
  let reasoning = '';
  /** Tool calls' names and arguments: the model wrote them, so they count as completion tokens. */
  let calls = '';
  /** Counts a batch that goes out (synchronous, for a stage that already walks the batches). */
  function add(batch: Delta[]): void {
    for (const d of batch) {
      if (d.content) content += d.content;
      if (d.reasoning_content) reasoning += d.reasoning_content;
      for (const c of d.tool_calls ?? []) calls += (c.function.name ?? '') + c.function.arguments;
      if (d.function_call) calls += (d.function_call.name ?? '') + d.function_call.arguments;
    }
  }
  /** The last stage: sees exactly what goes out. */
  const stage: BatchStage = {
    push(batch, out) {
      add(batch);
      out.push(...batch);
      return false;
    },
  };
  // The log line, the metrics and the usage chunk all ask once the answer is done: counted once.
  let memo: { prompt: string; answered: number; usage: Usage } | undefined;
  function usage(): Usage {
    const sent = promptText();
    const answered = content.length + reasoning.length + calls.length;
    if (memo?.prompt !== sent || memo.answered !== answered) memo = { prompt: sent, answered, usage: count(sent) };
    return { ...memo.usage, completion_tokens_details: { ...memo.usage.completion_tokens_details } };
  }
  function count(sent: string): Usage {
    const prompt = tokenCount(sent);
    const reasoningTokens = tokenCount(reasoning);
    const completion = tokenCount(content) + tokenCount(calls) + reasoningTokens;
    return {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      completion_tokens_details: { reasoning_tokens: reasoningTokens },
    };
  }
  return { stage, add, usage, answer: () => content };
}

export type UsageMeter = ReturnType<typeof createUsageMeter>;

/**
 * Ends the answer after `limit` tokens (content and reasoning together, as completion_tokens
 * counts them) with finish_reason `length`.
 */
export function maxTokensStage(limit: number): BatchStage {
  const seen = { content: '', reasoning_content: '' };
  const tokens = { content: 0, reasoning_content: 0 };
  return {
    push(batch, out, outcome) {
      for (const delta of batch) {
        const field = delta.reasoning_content !== undefined ? 'reasoning_content' : 'content';
        const other = field === 'content' ? 'reasoning_content' : 'content';
        const budget = limit - tokens[other];
        // Re-counted as a whole: a BPE token can span two deltas.
        const text = seen[field] + (delta[field] ?? '');
        const within = isWithinTokenLimit(text, budget, PLAIN);
        if (within !== false) {
          seen[field] = text;
          tokens[field] = within;
          out.push(delta);
          continue;
        }
        const allowed = firstTokens(text, budget);
        const rest = allowed.startsWith(seen[field]) ? allowed.slice(seen[field].length) : '';
        if (rest) out.push({ [field]: rest });
        outcome.finishReason = 'length';
        outcome.truncated = true;
        return true;
      }
      return false;
    },
  };
}

import { createHash } from 'node:crypto';
import { parseDirectives } from './directives.js';
import { scriptedFrames } from './model-answer.js';
import { mulberry32, pickInt } from './prng.js';

// Three scripts on purpose: ASCII (1 byte), Chinese (3 bytes) and emoji (4 bytes,
// surrogate pairs, a skin-tone modifier) so that fragmentation at random byte
// offsets splits characters and the gateway's UTF-8 handling is exercised.
const ASCII = ['alpha', 'stream', 'gateway', 'envelope', 'frame', 'chunk', 'token', 'delta', 'vector', 'answer'];
const CHINESE = ['你好', '世界', '数据', '模型', '流式', '分片', '测试', '答案', '网关', '信封'];
const EMOJI = ['🚀', '🌟', '👍🏽', '🧪', '✨', '🎉', '🐉', '🀄'];
const POOLS = [ASCII, CHINESE, EMOJI] as const;

/** The citation markers StepChat puts inline; the gateway must never forward them. */
export const MARKER_PATTERN = /<(?:web|url|unknown)_[^<>]*>/g;

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function frameWords(rng: () => number, index: number): string {
  const count = pickInt(rng, 2, 4);
  const words: string[] = [];
  for (let j = 0; j < count; j++) {
    const pool = POOLS[(index + j) % POOLS.length] ?? ASCII;
    words.push(pool[Math.floor(rng() * pool.length)] ?? '');
  }
  return words.join(' ');
}

// Splitting `<web_…>` and `<url_…>` across frames is the point: a gateway that
// strips markers per frame instead of across the stream leaks `<we` to its client.
function addMarkers(frames: string[], ids: { a: string; b: string; url: string; unknown: string }): void {
  const n = frames.length;
  const append = (i: number, s: string): void => {
    frames[i] = `${frames[i] ?? ''}${s}`;
  };
  const prepend = (i: number, s: string): void => {
    frames[i] = `${s}${frames[i] ?? ''}`;
  };
  if (n === 0) return;
  if (n === 1) {
    append(0, `<web_${ids.a}>。<url_${ids.url}><unknown_${ids.unknown}><web_${ids.b}>`);
    return;
  }
  const k = Math.floor(n / 4);
  append(k, '<we');
  prepend(k + 1, `b_${ids.a}>`);
  if (n >= 4) {
    const u = Math.floor(n / 2);
    append(u, `<url_${ids.url.slice(0, 3)}`);
    prepend(u + 1, `${ids.url.slice(3)}>`);
  } else {
    append(n - 1, `<url_${ids.url}>`);
  }
  append(Math.floor((3 * n) / 4), `<unknown_${ids.unknown}>`);
  append(n - 1, `<web_${ids.b}>`);
}

/**
 * The textEvent frame texts the emulator streams for a prompt: deterministic,
 * tagged with a short hash of the prompt, `frames` long unless the prompt says `#len:N`.
 * With `#search` (or `search` true: capy's `config.enableSearch`) the frames carry
 * citation markers, one of them split across two frames. `#tool:`/`#json:` directives script a
 * call or JSON answer instead (model-answer.ts); `context` is the chat's texts so far, this one last.
 */
export function answerFor(text: string, frames = 20, search?: boolean, context?: readonly string[]): string[] {
  const scripted = scriptedFrames(text, context);
  if (scripted) return scripted;
  const directives = parseDirectives(text);
  const count = Math.max(0, directives.len ?? frames);
  const hash = digest(text);
  const rng = mulberry32(parseInt(hash.slice(0, 8), 16));
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const words = frameWords(rng, i);
    out.push(i === 0 ? `[${hash.slice(0, 6)}] ${words}` : ` ${words}`);
  }
  if (search ?? directives.search) {
    addMarkers(out, {
      a: hash.slice(6, 12),
      b: hash.slice(12, 18),
      url: hash.slice(18, 24),
      unknown: hash.slice(24, 30),
    });
  }
  return out;
}

/** The answer as a client should see it: frames joined, citation markers removed. */
export function visibleAnswer(text: string, frames = 20): string {
  return answerFor(text, frames).join('').replace(MARKER_PATTERN, '');
}

/** A web-search source as the `pipelineEvent` carries it. */
export interface SearchResult {
  title: string;
  url: string;
  snippet: string;
}

/** The three search results streamed for a `#search` prompt. */
export function searchResultsFor(text: string): SearchResult[] {
  const hash = digest(text).slice(0, 6);
  return ['a', 'b', 'c'].map((letter, i) => ({
    title: `Result ${letter.toUpperCase()} ${hash} 结果${i + 1}`,
    url: `https://example.com/${letter}`,
    snippet: `Snippet ${i + 1} for ${hash} 🔎`,
  }));
}

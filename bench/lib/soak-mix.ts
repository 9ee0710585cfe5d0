import { answerFor, visibleAnswer } from '../../test/emulator/answer.js';
import { reasoningFor } from '../../test/emulator/capy-answer.js';
import type { GatewayResult } from './gateway.js';
import type { Dialect } from './upstream.js';

// The soak's traffic: which kinds of request, how often, and what each must receive. Expected
// answers come from the emulator's own answer functions, never from the gateway's code.

export type Kind =
  | 'stream'
  | 'non-stream'
  | 'multi-turn'
  | 'search'
  | 'reasoning'
  | 'attachment'
  | 'client-abort'
  | 'error-event'
  | 'error-trailer'
  | 'reset';

/** Percent of requests per kind (reasoning needs capy; with yuewen its share goes to stream). */
export const MIX: readonly [Kind, number][] = [
  ['stream', 52],
  ['non-stream', 20],
  ['multi-turn', 8],
  ['search', 3],
  ['reasoning', 2],
  ['attachment', 3],
  ['client-abort', 5],
  ['error-event', 3],
  ['error-trailer', 2],
  ['reset', 2],
];

const FAULTS: readonly Kind[] = ['error-event', 'error-trailer', 'reset'];
const WORDS = ['river', 'mountain', '长江', '黄河', '数据流', '分片', '🚀', '🐉', '👍🏽', 'gateway', 'envelope', '测试'];

// A 1×1 PNG: the answer depends on the text only, so an attachment changes what the gateway must
// do (upload, then reference it) but not what the client must receive.
const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

type Content = string | ({ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } })[];

/** One planned request. */
export interface Planned {
  kind: Kind;
  body: { model: string; messages: { role: string; content: Content }[]; stream: boolean; reasoning_effort?: string };
  /** The prompt the emulator answers (single-turn); multi-turn is looked up by `tag` afterwards. */
  prompt?: string;
  tag?: string;
  abortAfterFirst: boolean;
}

/** Picks a kind and builds its request from a seeded PRNG. */
export function plan(seq: number, rng: () => number, dialect: Dialect, model: string): Planned {
  let roll = rng() * 100;
  let kind: Kind = 'stream';
  for (const [k, w] of MIX) {
    if ((roll -= w) < 0) {
      kind = k;
      break;
    }
  }
  if (kind === 'reasoning' && dialect !== 'capy') kind = 'stream';
  const pick = (): string => WORDS[Math.floor(rng() * WORDS.length)]!;
  const words = `${pick()} ${pick()} ${pick()}`;
  const len = FAULTS.includes(kind) ? 5 + Math.floor(rng() * 20) : 1 + Math.floor(rng() * 40);
  // A tenth name a model the upstream does not list, as clients often do.
  const m = rng() < 0.1 ? 'gpt-4o' : model;
  const stream = kind === 'non-stream' ? false : kind === 'multi-turn' || FAULTS.includes(kind) ? rng() < 0.5 : true;
  let prompt = `soak ${seq} ${words} #len:${len}`;
  if (kind === 'search') prompt += ' #search';
  if (FAULTS.includes(kind)) prompt += ` #fault:${kind}`;
  if (kind === 'multi-turn') {
    const tag = `mt${seq}x`;
    const messages = [
      { role: 'system', content: `You are a soak test ${pick()}.` },
      { role: 'user', content: `earlier question ${words}` },
      { role: 'assistant', content: `earlier answer ${pick()} ${pick()}` },
      { role: 'user', content: `${tag} follow-up ${pick()} #len:${len}` },
    ];
    return { kind, body: { model: m, messages, stream }, tag, abortAfterFirst: false };
  }
  const content: Content =
    kind === 'attachment'
      ? [
          { type: 'text', text: prompt },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1X1}` } },
        ]
      : prompt;
  const body: Planned['body'] = { model: m, messages: [{ role: 'user', content }], stream };
  if (kind === 'reasoning') body.reasoning_effort = 'high';
  return { kind, body, prompt, abortAfterFirst: kind === 'client-abort' };
}

/** How a request went, against what it should have done. */
export interface Verdict {
  /** Behaved as intended (a fault surfaced as an error, an answer arrived complete). */
  asIntended: boolean;
  /** For completed answers: characters (code points) expected and matched. */
  expectedChars?: number;
  receivedChars?: number;
  problem?: string;
  /** Multi-turn answers are checked after the run, against what the emulator received. */
  deferred?: { tag: string; text: string };
}

const cp = (s: string): number => [...s].length;

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return cp(a.slice(0, i));
}

/** Compares a received answer with the expected one. */
export function checkText(expected: string, received: string, what: string): Verdict {
  if (received === expected) return { asIntended: true, expectedChars: cp(expected), receivedChars: cp(received) };
  return {
    asIntended: false,
    expectedChars: cp(expected),
    receivedChars: commonPrefix(expected, received),
    problem: `${what}: expected ${cp(expected)} chars, got ${cp(received)}, equal for the first ${commonPrefix(expected, received)}`,
  };
}

/** Judges one result. */
export function judge(p: Planned, r: GatewayResult): Verdict {
  if (FAULTS.includes(p.kind)) {
    if (r.done) return { asIntended: false, problem: `${p.kind}: the upstream fault was answered as a success` };
    // Whatever text came before the fault must be the start of the real answer.
    const full = answerFor(p.prompt!).join('');
    if (!full.startsWith(r.text)) return { asIntended: false, problem: `${p.kind}: partial text is not a prefix of the answer` };
    return { asIntended: true };
  }
  if (p.kind === 'client-abort') return r.aborted ? { asIntended: true } : { asIntended: false, problem: 'client-abort: no content arrived to abort after' };
  if (!r.done) return { asIntended: false, problem: `${p.kind}: failed with HTTP ${r.status} ${r.errorCode ?? 'incomplete stream'}` };
  if (p.kind === 'multi-turn') return { asIntended: true, deferred: { tag: p.tag!, text: r.text } };
  if (p.kind === 'search') {
    // Markers go; a web citation may come back as a source number `[n]`, and the list of sources
    // follows the answer. Neither is answer text, so both are taken out before comparing.
    const visible = visibleAnswer(p.prompt!);
    const text = r.text.replace(/\[\d{1,2}\]/g, '');
    if (/<(web|url|unknown)_/.test(text)) return { asIntended: false, problem: 'search: a citation marker reached the client' };
    if (text.startsWith(visible)) return { asIntended: true, expectedChars: cp(visible), receivedChars: cp(visible) };
    return checkText(visible, text.slice(0, visible.length), 'search');
  }
  const v = checkText(answerFor(p.prompt!).join(''), r.text, p.kind);
  if (p.kind === 'reasoning' && v.asIntended && r.reasoning !== reasoningFor(p.prompt!).join('')) {
    return { ...v, asIntended: false, problem: 'reasoning: reasoning_content differs from what the upstream sent' };
  }
  return v;
}

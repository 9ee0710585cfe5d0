import { randomUUID } from 'node:crypto';
import type { Delta } from '../openai/answer.js';
import type { DeltaStage } from '../openai/delta-stages.js';
import type { Corrector } from './correction.js';
import type { ToolOptions, ToolSpec } from './options.js';
import { parseCalls } from './parse-calls.js';
import { CALLS_CLOSE, CALLS_OPEN, toolCorrection, type CallText } from './prompt.js';
import { schemaProblem } from './schema-check.js';

// What can open a call block: the service's own delimiters, Hermes/Qwen's tag, a code fence.
const FENCE = '```';
const HERMES_OPEN = '<tool_call>';
const CLOSERS: Record<string, string> = { [CALLS_OPEN]: CALLS_CLOSE, [HERMES_OPEN]: '</tool_call>', [FENCE]: FENCE };
const OPENERS = Object.keys(CLOSERS);
/** Fence languages a call may be written in; any other fence is code and streams as text. */
const CALL_FENCES = new Set(['', 'json', 'json5', 'jsonc', 'tool_call', 'tool_calls', 'tool_code']);
const LONGEST_LANG = 16;
const LONGEST_OPENER = Math.max(...OPENERS.map((o) => o.length));

/** Length of the longest suffix of `text` that is a proper prefix of one of `marks`. */
function partialMatch(text: string, marks: readonly string[]): number {
  // Every opener starts with `<` or a backtick: without one near the end, nothing can be held.
  const near = text.length - LONGEST_OPENER;
  if (text.lastIndexOf('<') < near && text.lastIndexOf('`') < near) return 0;
  let best = 0;
  for (const mark of marks) {
    for (let n = Math.min(mark.length - 1, text.length); n > best; n--) {
      if (text.endsWith(mark.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

function firstOpener(text: string): { at: number; opener: string } | undefined {
  let found: { at: number; opener: string } | undefined;
  for (const opener of OPENERS) {
    const at = text.indexOf(opener);
    if (at !== -1 && (!found || at < found.at)) found = { at, opener };
  }
  return found;
}

/** `call_` and 24 hex digits, like OpenAI's ids. */
export function newCallId(): string {
  return `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
}

/**
 * Separates prose from calls in the answer text as it streams. Only what could start a block is
 * held back (a `<` or backticks at the end, trailing whitespace); an answer that opens with `{`
 * is held whole, since it may be nothing but a call.
 */
class Sieve {
  private mode: 'text' | 'block' | 'code' | 'bare' = 'text';
  private buf = '';
  /** Whitespace before a block: dropped if it is a call, given back if it is text. */
  private gap = '';
  private opener = '';
  /** A fence's language line, once read. */
  private lang: string | undefined;
  private prose = false;
  calls = 0;
  done = false;
  /** Calls to a `strict` tool whose arguments break its schema: held for a corrective turn. */
  rejected: { problem: string; raw: string } | undefined;

  constructor(
    private readonly opts: ToolOptions,
    private readonly tools: Map<string, ToolSpec>,
    /** A corrective turn's answer: only its calls count, its prose was said before. */
    private readonly quiet = false,
  ) {}

  private text(out: Delta[], text: string): void {
    // After a call the model tends to invent its result: that is not sent.
    if (!text || this.calls > 0 || this.quiet) return;
    if (/\S/.test(text)) this.prose = true;
    out.push({ content: text });
  }

  private emit(out: Delta[], calls: CallText[]): void {
    for (const call of calls) {
      if (this.done) return;
      const index = this.calls++;
      if (this.opts.legacy) {
        out.push({ function_call: { name: call.name, arguments: '' } }, { function_call: { arguments: call.arguments } });
      } else {
        out.push(
          { tool_calls: [{ index, id: newCallId(), type: 'function', function: { name: call.name, arguments: '' } }] },
          { tool_calls: [{ index, function: { arguments: call.arguments } }] },
        );
      }
      if (this.opts.legacy || !this.opts.parallel) this.done = true;
    }
  }

  /** The raw block, for when it turns out not to be calls. */
  private raw(): string {
    return `${this.gap}${this.opener}${this.opener === FENCE && this.lang !== undefined ? `${this.lang}\n` : ''}${this.buf}`;
  }

  push(text: string, out: Delta[]): void {
    this.buf += text;
    while (!this.done && this.step(out));
  }

  /** One move of the state machine; false when it must wait for more text. */
  private step(out: Delta[]): boolean {
    if (this.mode === 'bare') return false;
    if (this.mode === 'text') {
      if (!this.prose && this.calls === 0) {
        const lead = this.buf.trimStart();
        if (lead === '') return false;
        if (lead.startsWith('{')) {
          this.mode = 'bare';
          return false;
        }
      }
      const found = firstOpener(this.buf);
      if (found) {
        const before = this.buf.slice(0, found.at);
        const kept = before.trimEnd();
        this.text(out, kept);
        this.gap = before.slice(kept.length);
        this.opener = found.opener;
        this.lang = undefined;
        this.buf = this.buf.slice(found.at + found.opener.length);
        this.mode = 'block';
        return true;
      }
      // A possible opener, and the whitespace before it (dropped should it be a call).
      const partial = this.buf.length - partialMatch(this.buf, OPENERS);
      const keepFrom = this.buf.slice(0, partial).trimEnd().length;
      this.text(out, this.buf.slice(0, keepFrom));
      this.buf = this.buf.slice(keepFrom);
      return false;
    }
    if (this.mode === 'code') {
      const end = this.buf.indexOf(FENCE);
      if (end === -1) {
        const hold = partialMatch(this.buf, [FENCE]);
        this.text(out, this.buf.slice(0, this.buf.length - hold));
        this.buf = this.buf.slice(this.buf.length - hold);
        return false;
      }
      this.text(out, this.buf.slice(0, end + FENCE.length));
      this.buf = this.buf.slice(end + FENCE.length);
      this.mode = 'text';
      return true;
    }
    if (this.opener === FENCE && this.lang === undefined) {
      const eol = this.buf.indexOf('\n');
      const lang = (eol === -1 ? this.buf : this.buf.slice(0, eol)).trim().toLowerCase();
      if (eol === -1 && this.buf.length <= LONGEST_LANG) return false;
      if (eol === -1 || !CALL_FENCES.has(lang)) {
        // Code in another language: it streams as text up to its closing fence.
        this.text(out, `${this.gap}${FENCE}`);
        this.gap = '';
        this.mode = 'code';
        return true;
      }
      this.lang = this.buf.slice(0, eol);
      this.buf = this.buf.slice(eol + 1);
    }
    const closer = CLOSERS[this.opener]!;
    const end = this.buf.indexOf(closer);
    if (end === -1) return false;
    const rest = this.buf.slice(end + closer.length);
    this.buf = this.buf.slice(0, end);
    this.block(out, closer);
    this.buf = rest;
    this.mode = 'text';
    return true;
  }

  /** What is wrong with a strict tool's arguments, if anything. */
  private strictProblem(calls: CallText[]): string | undefined {
    for (const call of calls) {
      const tool = this.tools.get(call.name)!;
      if (!tool.strict || !tool.validate) continue;
      const problem = schemaProblem(tool.validate, JSON.parse(call.arguments));
      if (problem) return `the arguments of ${call.name} do not match its schema: ${problem}`;
    }
    return undefined;
  }

  private accept(out: Delta[], calls: CallText[], raw: string): void {
    const problem = this.strictProblem(calls);
    if (problem) this.rejected ??= { problem, raw };
    else this.emit(out, calls);
  }

  private block(out: Delta[], closer: string): void {
    const calls = parseCalls(this.buf, this.tools);
    if (calls) this.accept(out, calls, `${this.raw()}${closer}`);
    else this.text(out, `${this.raw()}${closer}`);
    this.gap = '';
    this.lang = undefined;
  }

  /** A rejected call that no correction replaced stays text, like any block that is not a call. */
  giveUp(out: Delta[]): void {
    if (this.rejected && this.calls === 0) this.text(out, this.rejected.raw);
  }

  /** What is left at the end of the answer: a held answer, an unclosed block, held text. */
  finish(out: Delta[]): void {
    if (this.done) return;
    if (this.mode === 'bare') {
      const calls = parseCalls(this.buf, this.tools, true);
      if (calls) this.accept(out, calls, this.buf);
      else this.text(out, this.buf);
    } else if (this.mode === 'block') {
      // Models forget the closing tag: what is there may still be a whole call.
      const calls = this.lang !== undefined || this.opener !== FENCE ? parseCalls(this.buf, this.tools) : undefined;
      if (calls) this.accept(out, calls, this.raw());
      else this.text(out, this.raw());
    } else {
      this.text(out, this.buf);
    }
    this.buf = '';
  }
}

/**
 * The tool sieve over the answer: prose streams as content, call blocks in any of the formats
 * models use become `tool_calls` deltas (finish_reason `tool_calls`, or `function_call` for the
 * legacy API). Anything that does not parse as calls to offered tools stays text.
 */
export function toolSieve(opts: ToolOptions, corrector?: Corrector): DeltaStage {
  // A named tool_choice offers the model that tool alone: a call to another is not a call.
  const named = typeof opts.choice === 'object' ? opts.choice.name : undefined;
  const tools = new Map(opts.tools.filter((t) => !named || t.name === named).map((t) => [t.name, t]));
  return async function* sieveCalls(deltas, outcome) {
    let sieve = new Sieve(opts, tools);
    const first = sieve;
    try {
      for await (const batch of deltas) {
        const out = siftBatch(batch, sieve);
        if (out.length > 0) yield out;
        if (sieve.done) break;
      }
      const end = siftEnd(sieve);
      if (end.length > 0) yield end;
      // A strict tool's arguments broke its schema: one corrective turn, whose calls replace it.
      // No call although tool_choice demands one: one corrective turn too.
      const missing = sieve.calls === 0 && !sieve.rejected && opts.choice !== 'auto' ? (named ?? 'a tool') : undefined;
      const problem = sieve.calls === 0 ? (sieve.rejected?.problem ?? (missing && `the reply has no call, and it must call ${missing}`)) : undefined;
      const retry = problem ? corrector?.retry(toolCorrection(problem)) : undefined;
      if (retry) {
        sieve = new Sieve(opts, tools, true);
        yield* sift(retry, sieve);
      }
      if (sieve.calls === 0) {
        const out: Delta[] = [];
        first.giveUp(out);
        if (out.length > 0) yield out;
      }
    } finally {
      corrector?.dismiss();
    }
    if (sieve.calls > 0 && outcome.finishReason === 'stop') {
      outcome.finishReason = opts.legacy ? 'function_call' : 'tool_calls';
      // The upstream chat holds call markup, not the answer the client got.
      outcome.truncated = true;
    }
  };
}

/**
 * Runs the corrective turn's answer through a sieve. The first answer, every request's, is sifted
 * in sieveCalls itself rather than through `yield*` into this: each async-generator layer costs
 * promises and a suspended frame per batch, held while the stream waits for its next upstream read.
 */
async function* sift(deltas: AsyncIterable<Delta[]>, sieve: Sieve): AsyncGenerator<Delta[]> {
  for await (const batch of deltas) {
    const out = siftBatch(batch, sieve);
    if (out.length > 0) yield out;
    if (sieve.done) break;
  }
  const out = siftEnd(sieve);
  if (out.length > 0) yield out;
}

function siftBatch(batch: Delta[], sieve: Sieve): Delta[] {
  const out: Delta[] = [];
  for (const delta of batch) {
    if (delta.content === undefined) out.push(delta);
    else sieve.push(delta.content, out);
    if (sieve.done) break;
  }
  return out;
}

function siftEnd(sieve: Sieve): Delta[] {
  const out: Delta[] = [];
  sieve.finish(out);
  return out;
}

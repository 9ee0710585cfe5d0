import type { Delta } from '../openai/answer.js';
import type { DeltaStage } from '../openai/delta-stages.js';
import { InvalidJsonOutputError } from '../errors.js';
import type { Corrector } from './correction.js';
import type { FormatOptions } from './options.js';
import { formatCorrection } from './prompt.js';
import { parseLoose } from './parse-calls.js';
import { schemaProblem } from './schema-check.js';

/** Finds one JSON value in text as it streams: from its first `{` (or `[`) to the bracket that closes it. */
class JsonScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  started = false;
  ended = false;
  json = '';

  constructor(private readonly opening: string) {}

  /** The part of `text` that belongs to the JSON value. */
  feed(text: string): string {
    let from = 0;
    if (!this.started) {
      from = text.indexOf(this.opening);
      if (from === -1) return '';
      this.started = true;
    }
    let i = from;
    for (; i < text.length && !this.ended; i++) {
      const c = text[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
      } else if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) this.ended = true;
      }
    }
    const part = text.slice(from, i);
    this.json += part;
    return part;
  }
}

function problemOf(format: FormatOptions, scanner: JsonScanner, stream: boolean): { problem?: string; value?: string } {
  if (!scanner.started) return { problem: 'the answer holds no JSON' };
  const parsed = stream ? strictParse(scanner.json) : parseLoose(scanner.json);
  if (!parsed) return { problem: 'the JSON in the answer does not parse' };
  const value = parsed.repaired ? JSON.stringify(parsed.value) : scanner.json;
  if (!format.validate) return { value };
  const mismatch = schemaProblem(format.validate, parsed.value);
  return mismatch && format.strict ? { problem: `the JSON does not match the schema: ${mismatch}` } : { value };
}

function strictParse(text: string): { value: unknown; repaired: boolean } | undefined {
  try {
    return { value: JSON.parse(text), repaired: false };
  } catch {
    return undefined;
  }
}

/**
 * `response_format` json_object / json_schema: the content becomes the bare JSON value of the
 * answer (fences and chatter dropped). Streamed, the JSON goes out from its first character and
 * nothing after its end; whole, it is checked (repaired, validated) first. No JSON, or with
 * `strict` JSON that breaks the schema, gets one corrective turn, then a 502.
 */
export function jsonFormatStage(format: FormatOptions, stream: boolean, corrector?: Corrector): DeltaStage {
  const opening = format.schema?.type === 'array' ? '[' : '{';
  return async function* jsonOnly(deltas, outcome) {
    let source: AsyncIterable<Delta[]> | undefined = deltas;
    let corrected = false;
    try {
      while (source) {
        const scanner = new JsonScanner(opening);
        for await (const batch of source) {
          const out: Delta[] = [];
          for (const delta of batch) {
            if (delta.content === undefined) out.push(delta);
            else if (!scanner.ended) {
              const part = scanner.feed(delta.content);
              // Once started, a stream cannot take the JSON back: corrections only before that.
              if (part && stream) out.push({ content: part });
            }
          }
          if (out.length > 0) yield out;
          // Streamed, nothing follows the JSON. Whole, the answer runs to its end, so its chat
          // can take a correction.
          if (scanner.ended && stream) break;
        }
        if (scanner.ended || scanner.started) outcome.truncated = true;
        const { problem, value } = problemOf(format, scanner, stream);
        if (!problem) {
          if (!stream) yield [{ content: value! }];
          return;
        }
        if (stream && scanner.started) throw new InvalidJsonOutputError(problem);
        const retry = corrected ? undefined : corrector?.retry(formatCorrection(problem));
        if (!retry) throw new InvalidJsonOutputError(corrected ? `${problem}, also after a corrective turn` : problem);
        corrected = true;
        source = retry;
      }
    } finally {
      corrector?.dismiss();
    }
  };
}

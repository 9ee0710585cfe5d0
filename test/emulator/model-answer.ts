import { createHash } from 'node:crypto';
import { mulberry32, pickInt } from './prng.js';

// A deterministic stand-in for a model that calls tools or writes JSON, on directives in the
// prompt. Each format is one that real models answer with, so the gateway's parser meets them
// all; the text is cut into frames at seeded random offsets (inside delimiters, inside JSON).

/** How the answer writes a call. */
export type CallFormat = 'own' | 'fence' | 'hermes' | 'bare' | 'broken';
const FORMATS: readonly CallFormat[] = ['own', 'fence', 'hermes', 'bare', 'broken'];

/** A `#tool:<format>:<name>[:<json>]` directive. */
export interface CallDirective {
  format: CallFormat;
  name: string;
  /** JSON text, `{}` when the directive gives none. */
  args: string;
}

/** Prose the emulated model writes before a fenced call, and the result it invents after a Hermes one. */
export const CALL_PROSE = 'Let me look that up.';
export const INVENTED_RESULT = 'The tool says it is sunny.';
/** The chatter around JSON for `#json:`. */
export const JSON_CHATTER = { before: 'Sure! Here is the JSON you asked for:', after: 'Anything else?' };

/** The `#tool:` directives of a prompt, in order; none once the prompt holds `#answered` (a tool result came back). */
export function callDirectives(text: string): CallDirective[] {
  if (text.includes('#answered')) return [];
  const out: CallDirective[] = [];
  for (const m of text.matchAll(/#tool:([a-z]+):([\w-]+)(?::(\{\S*\}))?/g)) {
    const format = m[1] as CallFormat;
    if (FORMATS.includes(format)) out.push({ format, name: m[2]!, args: m[3] ?? '{}' });
  }
  return out;
}

function callJson(d: CallDirective, argsAsString = false): string {
  return `{"name":${JSON.stringify(d.name)},"arguments":${argsAsString ? JSON.stringify(d.args) : d.args}}`;
}

/** The whole answer text for the call directives (consecutive `own` calls share one block). */
export function callAnswer(directives: CallDirective[]): string {
  const parts: string[] = [];
  for (let i = 0; i < directives.length; i++) {
    const d = directives[i]!;
    if (d.format === 'own') {
      const group = [d];
      while (directives[i + 1]?.format === 'own') group.push(directives[++i]!);
      parts.push(`<tool_calls>\n[${group.map((g) => callJson(g)).join(',')}]\n</tool_calls>`);
    } else if (d.format === 'fence') {
      parts.push(`${CALL_PROSE}\n\n\`\`\`json\n${callJson(d)}\n\`\`\``);
    } else if (d.format === 'hermes') {
      // Arguments as a JSON string, and an invented result after the call, as such models do.
      parts.push(`<tool_call>\n${callJson(d, true)}\n</tool_call>\n${INVENTED_RESULT}`);
    } else if (d.format === 'bare') {
      parts.push(callJson(d));
    } else {
      parts.push(`<tool_calls>\n[{"name":${JSON.stringify(d.name)},"arguments":{{{\n</tool_calls>`);
    }
  }
  return parts.join('\n');
}

/**
 * `#json:<json>`: the JSON in a fence with chatter around it. `#json-fix:<json>`: a first answer
 * with no JSON at all, and the bare JSON on a later turn of the same chat (the corrective turn).
 */
export function jsonAnswer(text: string, context: readonly string[] = []): string | undefined {
  const plain = /#json:(\S+)/.exec(text);
  if (plain) return `${JSON_CHATTER.before}\n\`\`\`json\n${plain[1]}\n\`\`\`\n${JSON_CHATTER.after}`;
  const fix = /#json-fix:(\S+)/.exec(text) ?? context.map((t) => /#json-fix:(\S+)/.exec(t)).find(Boolean);
  if (!fix) return undefined;
  return context.length > 1 ? fix[1] : 'I would rather explain this in words.';
}

/** Cuts text into 4 to 12 frames at seeded offsets, never inside a character. */
export function splitFrames(text: string): string[] {
  const chars = Array.from(text);
  const rng = mulberry32(parseInt(createHash('sha256').update(text).digest('hex').slice(0, 8), 16));
  const count = Math.min(chars.length, pickInt(rng, 4, 12));
  const cuts = new Set<number>();
  while (cuts.size < count - 1) cuts.add(pickInt(rng, 1, chars.length - 1));
  const sorted = [0, ...[...cuts].sort((a, b) => a - b), chars.length];
  const frames: string[] = [];
  for (let i = 1; i < sorted.length; i++) frames.push(chars.slice(sorted[i - 1], sorted[i]).join(''));
  return frames;
}

/**
 * `#tool-fix:<name>:<bad json>|<good json>`: a call with the bad arguments first, and with the good
 * ones on a later turn of the same chat (the corrective turn a strict tool gets).
 */
function fixedCall(text: string, context: readonly string[] = []): CallDirective[] {
  const later = context.length > 1;
  const pattern = /#tool-fix:([\w-]+):(\{\S*?\})\|(\{\S*\})/;
  const m = pattern.exec(text) ?? context.map((t) => pattern.exec(t)).find(Boolean);
  if (text.includes('#answered')) return [];
  if (m) return [{ format: 'own', name: m[1]!, args: later ? m[3]! : m[2]! }];
  // `#tool-late:<name>:<json>`: no call at first (prose), the call on a later turn.
  const late = /#tool-late:([\w-]+):(\{\S*\})/;
  const l = late.exec(text) ?? context.map((t) => late.exec(t)).find(Boolean);
  return l && later ? [{ format: 'own', name: l[1]!, args: l[2]! }] : [];
}

/** The frames of a scripted answer (calls or JSON), or undefined for an ordinary one. */
export function scriptedFrames(text: string, context?: readonly string[]): string[] | undefined {
  const calls = [...callDirectives(text), ...fixedCall(text, context)];
  if (calls.length > 0) return splitFrames(callAnswer(calls));
  const json = jsonAnswer(text, context);
  return json === undefined ? undefined : splitFrames(json);
}

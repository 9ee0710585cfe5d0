import type { FormatOptions, ToolOptions } from './options.js';

/** The block the model is asked to answer with when it calls tools. */
export const CALLS_OPEN = '<tool_calls>';
export const CALLS_CLOSE = '</tool_calls>';

/** A call as the model writes it and as the history shows it back. */
export interface CallText {
  name: string;
  /** The arguments as JSON text (OpenAI's `function.arguments`). */
  arguments: string;
}

function compactArgs(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
}

/** Calls in the delimited form the service asks for, so the history shows the model its own format. */
export function callBlock(calls: CallText[]): string {
  const items = calls.map((c) => `{"name":${JSON.stringify(c.name)},"arguments":${compactArgs(c.arguments || '{}')}}`);
  return `${CALLS_OPEN}\n[${items.join(',')}]\n${CALLS_CLOSE}`;
}

/**
 * The tool section appended to the message sent upstream: one line per tool (name, description,
 * argument schema) and the exact block to answer with. Kept short: it is sent, and counted, every turn.
 */
export function toolInstructions(opts: ToolOptions): string {
  const named = typeof opts.choice === 'object' ? opts.choice.name : undefined;
  const offered = named ? opts.tools.filter((t) => t.name === named) : opts.tools;
  const lines = offered.map((t) => {
    const params = t.parameters ? ` ${JSON.stringify(t.parameters)}` : ' {}';
    return `- ${t.name}:${params}${t.description ? ` ${t.description.replace(/\s+/g, ' ').trim()}` : ''}`;
  });
  const how = opts.parallel ? 'one object per call, several allowed' : 'exactly one call';
  const rule = named
    ? `You must call ${named} now: reply with the block only.`
    : opts.choice === 'required'
      ? 'You must call at least one tool now: reply with the block only.'
      : 'Call a tool only when it helps; otherwise answer normally. After the block, stop: results come in the next message.';
  return [
    '[Tools] You can call these tools (name: JSON schema of arguments, description):',
    ...lines,
    `To call, reply with this block (${how}, "arguments" matching the schema):`,
    `${CALLS_OPEN}\n[{"name":"<tool>","arguments":{}}]\n${CALLS_CLOSE}`,
    rule,
  ].join('\n');
}

/** The instruction for `response_format` json_object / json_schema. */
export function formatInstructions(format: FormatOptions): string {
  const schema = format.schema ? ` matching this JSON schema: ${JSON.stringify(format.schema)}` : '';
  return `[Format] Reply with one JSON ${format.schema ? 'value' : 'object'}${schema}. Only the JSON: no code fence, no text before or after.`;
}

/** The correction sent in the same upstream chat when the answer had no valid JSON. */
export function formatCorrection(problem: string): string {
  return `Your reply was not valid: ${problem}. Reply again with only the JSON, nothing else.`;
}

/** The correction sent in the same upstream chat when a strict tool's arguments broke its schema. */
export function toolCorrection(problem: string): string {
  return `Your tool call was not valid: ${problem}. Reply again with only the corrected ${CALLS_OPEN} block.`;
}

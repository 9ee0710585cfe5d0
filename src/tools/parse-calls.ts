import { jsonrepair } from 'jsonrepair';
import type { ToolSpec } from './options.js';
import type { CallText } from './prompt.js';

/** JSON text parsed as it is, or else after repair (trailing commas, quotes, a missing bracket). */
export function parseLoose(text: string): { value: unknown; repaired: boolean } | undefined {
  try {
    return { value: JSON.parse(text), repaired: false };
  } catch {
    try {
      return { value: JSON.parse(jsonrepair(text)), repaired: true };
    } catch {
      return undefined;
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One call as models write it: {name, arguments}, {function:{name, arguments}}, `parameters` for `arguments`. */
function callOf(item: unknown, tools: Map<string, ToolSpec>, repaired: boolean, needArguments: boolean): CallText | undefined {
  if (!isObject(item)) return undefined;
  const fn = isObject(item.function) ? item.function : item;
  const name = fn.name;
  if (typeof name !== 'string') return undefined;
  const tool = tools.get(name);
  if (!tool) return undefined;
  const given = fn.arguments ?? fn.parameters;
  if (given === undefined && needArguments) return undefined;
  let args: unknown = given ?? {};
  let fixed = repaired;
  if (typeof args === 'string') {
    const parsed = args.trim() === '' ? { value: {}, repaired: false } : parseLoose(args);
    if (!parsed) return undefined;
    args = parsed.value;
    fixed ||= parsed.repaired;
  }
  if (!isObject(args)) return undefined;
  // Repair can turn garbage into an object: only trusted when it fits the tool's schema.
  if (fixed && tool.validate && !tool.validate(args)) return undefined;
  return { name, arguments: JSON.stringify(args) };
}

/**
 * The calls a block of model output holds (an array, one call, or {"tool_calls":[…]}), or
 * undefined when it is not entirely calls to offered tools: then it stays text.
 * `bare` (an answer that is only JSON) requires `arguments`, so ordinary JSON is not taken for a call.
 */
export function parseCalls(text: string, tools: Map<string, ToolSpec>, bare = false): CallText[] | undefined {
  const parsed = parseLoose(text.trim());
  if (!parsed) return undefined;
  let items = parsed.value;
  if (isObject(items) && Array.isArray(items.tool_calls)) items = items.tool_calls;
  const list = Array.isArray(items) ? items : [items];
  if (list.length === 0) return undefined;
  const calls: CallText[] = [];
  for (const item of list) {
    const call = callOf(item, tools, parsed.repaired, bare);
    if (!call) return undefined;
    calls.push(call);
  }
  return calls;
}

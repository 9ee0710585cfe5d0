import type { ValidateFunction } from 'ajv';
import type { ChatCompletionRequest, FunctionDef } from '../../schemas/chat.js';
import { BadRequestError } from '../errors.js';
import { compileSchema } from './schema-check.js';

/** A tool the client offers, checked. */
export interface ToolSpec {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  /** `strict: true`: arguments that break the schema get one corrective turn. */
  strict: boolean;
  validate?: ValidateFunction;
}

/** What the request asks about function calling; `choice: 'none'` sends no instructions upstream. */
export interface ToolOptions {
  tools: ToolSpec[];
  /** `auto`, `none`, `required`, or the one tool's name the model must call. */
  choice: 'auto' | 'none' | 'required' | { name: string };
  parallel: boolean;
  /** Legacy `functions`: answered with `message.function_call` and finish_reason `function_call`. */
  legacy: boolean;
}

export interface FormatOptions {
  type: 'json_object' | 'json_schema';
  name?: string;
  schema?: Record<string, unknown>;
  strict: boolean;
  validate?: ValidateFunction;
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function toolSpec(def: FunctionDef, where: string): ToolSpec {
  if (!NAME.test(def.name)) throw new BadRequestError(`${where}.name: "${def.name}" must be 1-64 letters, digits, underscores or dashes`);
  const spec: ToolSpec = { name: def.name, strict: def.strict === true };
  if (def.description) spec.description = def.description;
  if (def.parameters) {
    spec.parameters = def.parameters;
    spec.validate = compiled(def.parameters, `${where}.parameters`);
  }
  return spec;
}

function compiled(schema: Record<string, unknown>, where: string): ValidateFunction {
  try {
    return compileSchema(schema);
  } catch (err) {
    throw new BadRequestError(`${where}: not a valid JSON schema (${(err as Error).message})`);
  }
}

function choiceOf(raw: ChatCompletionRequest['tool_choice'], names: Set<string>, where: string): ToolOptions['choice'] {
  if (raw == null) return 'auto';
  if (typeof raw === 'string') {
    if (raw === 'auto' || raw === 'none' || raw === 'required') return raw;
    throw new BadRequestError(`${where}: "${raw}" is not one of "auto", "none", "required" or {"type":"function","function":{"name"}}`);
  }
  const name = raw.function?.name ?? raw.name;
  if (!name) throw new BadRequestError(`${where}: a named choice needs {"type":"function","function":{"name"}}`);
  if (!names.has(name)) throw new BadRequestError(`${where}: "${name}" is not one of the offered tools`);
  return { name };
}

/** Checks `tools`/`tool_choice`/`parallel_tool_calls` and the legacy `functions`/`function_call`. */
export function toolOptions(body: ChatCompletionRequest): ToolOptions | undefined {
  const legacy = (body.tools == null || body.tools.length === 0) && body.functions != null && body.functions.length > 0;
  const tools: ToolSpec[] = [];
  if (legacy) {
    body.functions!.forEach((f, i) => tools.push(toolSpec(f, `functions[${i}]`)));
  } else {
    (body.tools ?? []).forEach((t, i) => {
      if (t.type !== 'function') throw new BadRequestError(`tools[${i}].type: "${t.type}" is not supported (only "function")`);
      if (!t.function) throw new BadRequestError(`tools[${i}].function: required for a function tool`);
      tools.push(toolSpec(t.function, `tools[${i}].function`));
    });
  }
  const names = new Set(tools.map((t) => t.name));
  if (names.size < tools.length) throw new BadRequestError(`${legacy ? 'functions' : 'tools'}: each tool needs its own name`);
  const where = legacy ? 'function_call' : 'tool_choice';
  const raw = legacy ? body.function_call : body.tool_choice;
  if (tools.length === 0) {
    if (raw != null && raw !== 'none' && raw !== 'auto') throw new BadRequestError(`${where}: set without any tools`);
    return undefined;
  }
  return { tools, choice: choiceOf(raw, names, where), parallel: !legacy && body.parallel_tool_calls !== false, legacy };
}

/** Checks `response_format`; undefined for plain text. */
export function formatOptions(body: ChatCompletionRequest): FormatOptions | undefined {
  const format = body.response_format;
  if (format == null || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object', strict: false };
  if (format.type !== 'json_schema') {
    throw new BadRequestError(`response_format.type: "${format.type}" is not one of "text", "json_object" or "json_schema"`);
  }
  const spec = format.json_schema;
  if (!spec?.schema) throw new BadRequestError('response_format.json_schema.schema: required for "json_schema"');
  return {
    type: 'json_schema',
    ...(spec.name ? { name: spec.name } : {}),
    schema: spec.schema,
    strict: spec.strict === true,
    validate: compiled(spec.schema, 'response_format.json_schema.schema'),
  };
}

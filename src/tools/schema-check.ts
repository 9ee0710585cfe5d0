import { Ajv, type ValidateFunction } from 'ajv';

// Formats and unknown keywords are a client's business: only the structure is checked.
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: false, logger: false });
const compiled = new Map<string, ValidateFunction>();
const MAX_CACHED = 200;

/**
 * Compiles a client's JSON schema (tool parameters, response_format), cached by its text. Ajv
 * keeps every schema object it compiled: each is removed at once, so requests do not pile up.
 * Throws with Ajv's message when the schema itself is invalid.
 */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  const cached = compiled.get(key);
  if (cached) {
    compiled.delete(key);
    compiled.set(key, cached);
    return cached;
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } finally {
    ajv.removeSchema(schema);
  }
  compiled.set(key, validate);
  if (compiled.size > MAX_CACHED) compiled.delete(compiled.keys().next().value!);
  return validate;
}

/** Ajv's first complaint about `value`, or undefined when it conforms. */
export function schemaProblem(validate: ValidateFunction, value: unknown): string | undefined {
  if (validate(value)) return undefined;
  const first = validate.errors?.[0];
  return first ? `${first.instancePath || '(root)'} ${first.message ?? 'is invalid'}` : 'does not match the schema';
}

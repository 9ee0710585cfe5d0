import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Ajv2019 } from 'ajv/dist/2019.js';
import type { Ajv2020 } from 'ajv/dist/2020.js';

// Formats and unknown keywords are a client's business: only the structure is checked.
const OPTIONS = { strict: false, validateFormats: false, allErrors: false, logger: false } as const;
// Clients write several drafts: zod 4 and LangChain say 2020-12, most hand-written schemas none (draft-07).
// Each made on the first schema of its draft: an Ajv instance compiles its draft's meta-schemas,
// and the 2019/2020 builds load vocabularies of their own, all of it idle until a client sends tools.
const drafts: { d07?: Ajv; d2019?: Ajv; d2020?: Ajv } = {};
const require = createRequire(import.meta.url);

function validatorFor(schema: Record<string, unknown>): { ajv: Ajv; schema: Record<string, unknown> } {
  const declared = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (declared.includes('2020-12')) return { ajv: (drafts.d2020 ??= new (require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 }).Ajv2020(OPTIONS)), schema };
  if (declared.includes('2019-09')) return { ajv: (drafts.d2019 ??= new (require('ajv/dist/2019.js') as { Ajv2019: typeof Ajv2019 }).Ajv2019(OPTIONS)), schema };
  // draft-07, or a draft Ajv does not know (draft-04/06 differ little): read as draft-07.
  const { $schema: _ignored, ...rest } = schema;
  return { ajv: (drafts.d07 ??= new Ajv(OPTIONS)), schema: rest };
}
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
  const { ajv, schema: readable } = validatorFor(schema);
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(readable);
  } finally {
    ajv.removeSchema(readable);
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

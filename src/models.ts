import type { ModelList } from '../schemas/models.js';

const CREATED = 1711900800; // 2024-04-01, when StepChat opened to the public

/** Model ids offered to clients; StepChat picks the actual model, so these name behaviours. */
export const MODEL_IDS = ['step', 'step-vision'];

export function listModels(): ModelList {
  return { object: 'list', data: MODEL_IDS.map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'stepfun' })) };
}

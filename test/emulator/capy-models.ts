// The capy model catalogue. Only the ids are known from the live web app; the
// display names and descriptions are plausible stand-ins, since clients show
// them but never branch on them.

/** One `GetChatConfig` model entry. */
export interface CapyModel {
  model: string;
  displayName: string;
  description: string;
  tags: string[];
}

const CATALOGUE: readonly CapyModel[] = [
  { model: 'step-auto', displayName: 'Step Auto', description: '自动选择最合适的模型', tags: [] },
  { model: 'step-2-16k', displayName: 'Step 2', description: '通用对话模型 (16k context)', tags: [] },
  { model: 'step3.5-flash', displayName: 'Step 3.5 Flash', description: '快速推理模型', tags: [] },
  { model: 'deepseek-r1', displayName: 'DeepSeek R1', description: '深度思考模型', tags: [] },
];

/** The model ids served when `EmulatorOptions.models` is not given. */
export const DEFAULT_MODELS: readonly string[] = CATALOGUE.map((m) => m.model);

/** ChatStream's model when `config.model` is absent. */
export const DEFAULT_MODEL = 'step-auto';

/** The `modelList` for these ids; ids outside the catalogue get a bare entry. */
export function modelList(ids: readonly string[]): CapyModel[] {
  return ids.map(
    (id) => CATALOGUE.find((m) => m.model === id) ?? { model: id, displayName: id, description: '', tags: [] },
  );
}

/**
 * Generation settings of a model and how a call's parameters are merged over them, as
 * transformers 4.57's pipelines merge them (`_prepare_generation_config` with
 * `use_model_defaults`): a model value from generation_config.json applies where the pipeline's
 * default equals the library default; a non-default `max_length` in the model file drops the
 * pipeline's `max_new_tokens`; `task_specific_params[task]` is applied last; the call wins.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ModelError } from '../errors.js';
import type { ModelConfig } from '../runtime/config.js';

/** The GenerationConfig fields the library reads (transformers' names). */
export interface GenerationSettings {
  max_length: number;
  max_new_tokens: number | null;
  min_length: number;
  min_new_tokens: number | null;
  do_sample: boolean;
  num_beams: number;
  temperature: number;
  top_k: number;
  top_p: number;
  typical_p: number;
  min_p: number | null;
  repetition_penalty: number;
  no_repeat_ngram_size: number;
  length_penalty: number;
  early_stopping: boolean | 'never';
  num_return_sequences: number;
  max_time: number | null;
  bad_words_ids: number[][] | null;
  suppress_tokens: number[] | null;
  begin_suppress_tokens: number[] | null;
  forced_bos_token_id: number | null;
  forced_eos_token_id: number | number[] | null;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  pad_token_id: number | null;
  decoder_start_token_id: number | null;
}

/** transformers' `GenerationConfig()` defaults. */
export const LIBRARY_DEFAULTS: Readonly<GenerationSettings> = Object.freeze({
  max_length: 20,
  max_new_tokens: null,
  min_length: 0,
  min_new_tokens: null,
  do_sample: false,
  num_beams: 1,
  temperature: 1.0,
  top_k: 50,
  top_p: 1.0,
  typical_p: 1.0,
  min_p: null,
  repetition_penalty: 1.0,
  no_repeat_ngram_size: 0,
  length_penalty: 1.0,
  early_stopping: false,
  num_return_sequences: 1,
  max_time: null,
  bad_words_ids: null,
  suppress_tokens: null,
  begin_suppress_tokens: null,
  forced_bos_token_id: null,
  forced_eos_token_id: null,
  bos_token_id: null,
  eos_token_id: null,
  pad_token_id: null,
  decoder_start_token_id: null,
});

/**
 * The text-generation pipeline's own defaults. transformers 4.57 also sets `do_sample=True,
 * temperature=0.7`; the Inference API decodes greedily by default, so only the length default
 * is kept here (a model file or task_specific_params that asks for sampling still gets it).
 */
export const TEXT_GENERATION_DEFAULTS: Partial<GenerationSettings> = { max_new_tokens: 256 };

const KEYS = Object.keys(LIBRARY_DEFAULTS) as Array<keyof GenerationSettings>;

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** generation_config.json of a folder ({} when absent). */
export function readGenerationConfig(dir: string): Record<string, unknown> {
  const file = path.join(dir, 'generation_config.json');
  if (!existsSync(file)) return {};
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch (cause) {
    throw new ModelError('ERR_MODEL_LOAD', `generation_config.json in ${dir} is not valid JSON`, { cause });
  }
}

/** The model's generation config: generation_config.json, else the generation keys of config.json. */
export function modelGenerationConfig(dir: string, config: ModelConfig): Record<string, unknown> {
  const file = readGenerationConfig(dir);
  if (Object.keys(file).length > 0) return file;
  const out: Record<string, unknown> = {};
  for (const key of KEYS)
    if (config.raw[key] !== undefined && config.raw[key] !== null) out[key] = config.raw[key];
  return out;
}

/**
 * The settings a pipeline for `task` starts from: `pipelineDefaults` merged with the model's
 * file, then `task_specific_params[task]`.
 */
export function pipelineSettings(
  modelConfig: Record<string, unknown>,
  config: ModelConfig,
  task: string,
  pipelineDefaults: Partial<GenerationSettings>,
): GenerationSettings {
  const merged: GenerationSettings = { ...LIBRARY_DEFAULTS, ...pipelineDefaults };
  for (const key of KEYS) {
    const modelValue = modelConfig[key];
    if (modelValue === undefined) continue;
    if (same(merged[key], LIBRARY_DEFAULTS[key]))
      (merged as unknown as Record<string, unknown>)[key] = modelValue;
  }
  if (pipelineDefaults.max_new_tokens !== undefined && merged.max_length !== LIBRARY_DEFAULTS.max_length) {
    merged.max_new_tokens = null;
  }
  const tsp = config.taskSpecificParams?.[task];
  if (typeof tsp === 'object' && tsp !== null) {
    for (const [key, value] of Object.entries(tsp as Record<string, unknown>)) {
      if ((KEYS as string[]).includes(key)) (merged as unknown as Record<string, unknown>)[key] = value;
    }
  }
  return merged;
}

/** The EOS ids of a settings object as a list. */
export function eosList(v: number | number[] | null): number[] {
  if (v === null) return [];
  return Array.isArray(v) ? v.filter((x) => Number.isInteger(x)) : [v];
}

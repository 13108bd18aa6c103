/**
 * Reading a model folder's configuration: config.json (labels, problem type, task params) and
 * the sentence-transformers files (modules.json, sentence_bert_config.json, pooling config,
 * Normalize module, prompts).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ModelError } from '../errors.js';

/** What the tasks read from config.json. */
export interface ModelConfig {
  modelType: string | null;
  architectures: string[];
  /** `id2label` with its string keys parsed to integers. */
  id2label: Map<number, string>;
  /** `label2id` in the order the file lists it (entailment discovery iterates it). */
  label2id: Array<[string, number]>;
  /** `len(id2label)`, as transformers' `num_labels`. */
  numLabels: number;
  problemType: string | null;
  functionToApply: string | null;
  /** Config-level `return_all_scores`, honoured by text-classification's legacy mode. */
  returnAllScores: boolean | null;
  taskSpecificParams: Record<string, unknown> | null;
  maxPositionEmbeddings: number | null;
  /**
   * Rows of the position table that no token can use: `padding_idx + 1` for models whose
   * position ids start after the padding index (RoBERTa and its relatives), else 0.
   */
  positionOffset: number;
  /**
   * The longest token sequence the position table holds (`max_position_embeddings` less
   * `positionOffset`), or null when config.json states no table or positions are relative
   * or rotary (no table bounds the length).
   */
  maxPositions: number | null;
  padTokenId: number | null;
  /**
   * Rows must run unpadded: a decoder-only sequence classifier (it reads the last token that is
   * not `pad_token_id`) with no `pad_token_id`, which reads the last position whatever the
   * padding (transformers refuses to batch it).
   */
  unpaddedRows: boolean;
  /** The whole parsed file. */
  raw: Record<string, unknown>;
}

/** Pooling modes of sentence-transformers' Pooling module. */
export type PoolingMode = 'cls' | 'mean' | 'max' | 'mean_sqrt_len' | 'weightedmean' | 'lasttoken';

/** The sentence-transformers configuration of a model folder, when it has one. */
export interface SentenceTransformersConfig {
  /** modules.json entries in order. */
  modules: Array<{ idx: number; name: string; path: string; type: string }>;
  /** sentence_bert_config.json `max_seq_length`, if set. */
  maxSeqLength: number | null;
  /** sentence_bert_config.json `do_lower_case`. */
  doLowerCase: boolean;
  /**
   * The Pooling module's modes, in sentence-transformers' order (cls, max, mean, mean_sqrt_len,
   * weightedmean, lasttoken): when several are on, their vectors are concatenated in it.
   */
  pooling: { modes: PoolingMode[]; includePrompt: boolean; raw: Record<string, unknown> } | null;
  /** Whether the pipeline ends with a Normalize module. */
  normalize: boolean;
  /** Module types this library does not run (e.g. CNN, LSTM); empty when every module is supported. */
  unsupportedModules: string[];
  /** config_sentence_transformers.json `prompts`. */
  prompts: Record<string, string>;
  defaultPromptName: string | null;
}

function readJson(file: string, what: string): { value: unknown; text: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ModelError('ERR_MODEL_LOAD', `cannot read ${what} ${file}: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    return { value: JSON.parse(text), text };
  } catch (cause) {
    throw new ModelError('ERR_MODEL_LOAD', `${what} ${file} is not valid JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The keys of the object at top-level key `key` of a JSON text, in file order. `JSON.parse`
 * moves integer-like keys first, which would reorder a `label2id` such as {"1": 0, "0": 1}.
 */
export function orderedKeys(text: string, key: string): string[] | null {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i++;
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length && text.charAt(i) !== '"') i += text.charAt(i) === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const skipValue = (): void => {
    ws();
    const c = text.charAt(i);
    if (c === '"') {
      str();
    } else if (c === '{' || c === '[') {
      let depth = 0;
      while (i < text.length) {
        const d = text.charAt(i);
        if (d === '"') {
          str();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') depth--;
        i++;
        if (depth === 0) return;
      }
    } else {
      while (i < text.length && !',}] \t\n\r'.includes(text.charAt(i))) i++;
    }
  };
  const objectKeys = (onKey: (k: string) => boolean): void => {
    ws();
    if (text.charAt(i) !== '{') return;
    i++;
    for (;;) {
      ws();
      if (text.charAt(i) === '}' || i >= text.length) return;
      if (text.charAt(i) === ',') {
        i++;
        continue;
      }
      const k = str();
      ws();
      i++; // colon
      if (onKey(k)) return;
    }
  };
  let result: string[] | null = null;
  objectKeys((k) => {
    if (k !== key) {
      skipValue();
      return false;
    }
    ws();
    if (text.charAt(i) !== '{') return true;
    const keys: string[] = [];
    objectKeys((inner) => {
      keys.push(inner);
      skipValue();
      return false;
    });
    result = keys;
    return true;
  });
  return result;
}

/**
 * Model types whose position ids count from `padding_idx + 1` (transformers'
 * `create_position_ids_from_input_ids`), so the first `padding_idx + 1` rows of the position
 * table are never used by a token: 514 rows hold 512 tokens with the usual `pad_token_id` 1.
 * The value is the configuration's default `pad_token_id` (null: none).
 */
const PADDING_OFFSET_TYPES = new Map<string, number | null>([
  ['roberta', 1],
  ['roberta-prelayernorm', 1],
  ['xlm-roberta', 1],
  ['xlm-roberta-xl', 1],
  ['camembert', 1],
  ['data2vec-text', 1],
  ['longformer', 1],
  ['ibert', 1],
  ['luke', 1],
  ['xmod', 1],
  ['layoutlmv3', 1],
  ['markuplm', 0],
  ['lilt', 0],
  ['esm', null],
]);

/**
 * The unusable head of the position table (`padding_idx + 1`, see PADDING_OFFSET_TYPES).
 * MPNet's padding index is 1 whatever the configuration says. BART-like models keep their own
 * offset out of `max_position_embeddings` (their table has extra rows), so none applies.
 */
export function positionOffsetOf(modelType: string | null, padTokenId: number | null): number {
  if (modelType === 'mpnet') return 2;
  if (modelType === null || !PADDING_OFFSET_TYPES.has(modelType)) return 0;
  const pad = padTokenId ?? PADDING_OFFSET_TYPES.get(modelType) ?? null;
  return pad === null ? 0 : pad + 1;
}

/**
 * Model types whose `*ForSequenceClassification` classifies the last token that is not
 * `pad_token_id` (transformers' decoder-only classifiers).
 */
const LAST_TOKEN_CLASSIFIERS = new Set([
  'arcee',
  'bloom',
  'ctrl',
  'deepseek_v2',
  'deepseek_v3',
  'diffllama',
  'doge',
  'exaone4',
  'falcon',
  'gemma',
  'gemma2',
  'gemma3',
  'gemma3_text',
  'glm',
  'glm4',
  'gpt2',
  'gpt_bigcode',
  'gpt_neo',
  'gpt_neox',
  'gpt_oss',
  'gptj',
  'helium',
  'hunyuan_v1_dense',
  'hunyuan_v1_moe',
  'jamba',
  'jetmoe',
  'llama',
  'minimax',
  'ministral',
  'mistral',
  'mixtral',
  'modernbert_decoder',
  'mpt',
  'nemotron',
  'openai-gpt',
  'opt',
  'persimmon',
  'phi',
  'phi3',
  'phimoe',
  'qwen2',
  'qwen2_moe',
  'qwen3',
  'qwen3_moe',
  'qwen3_next',
  'seed_oss',
  'smollm3',
  'stablelm',
  'starcoder2',
  't5gemma',
  'zamba',
  'zamba2',
]);

/** Settings in a config.json (or its `text_config`) that mean rotary position embeddings. */
const ROTARY_KEYS = [
  'rope_theta',
  'rope_scaling',
  'global_rope_theta',
  'local_rope_theta',
  'rotary_dim',
  'rotary_pct',
  'rotary_emb_base',
  'partial_rotary_factor',
];

/**
 * Whether a config.json object describes rotary positions (no position table, so no length limit
 * of its own): rope settings such as Llama's `rope_theta` or ModernBERT's `global_rope_theta`, or
 * `position_embedding_type: "rotary"`.
 */
export function hasRotaryPositions(c: Record<string, unknown>): boolean {
  return (
    ROTARY_KEYS.some((k) => c[k] !== undefined && c[k] !== null) || c.position_embedding_type === 'rotary'
  );
}

/** Parses a config.json text the way transformers' PretrainedConfig reads labels. */
export function parseModelConfig(
  text: string,
  raw: Record<string, unknown>,
  file = 'config.json',
): ModelConfig {
  const id2label = new Map<number, string>();
  const rawId2label = raw.id2label;
  if (isObject(rawId2label)) {
    for (const [k, v] of Object.entries(rawId2label)) {
      const id = Number(k);
      if (!Number.isInteger(id) || id < 0 || typeof v !== 'string') {
        throw new ModelError(
          'ERR_MODEL_LOAD',
          `${file}: id2label must map integer ids to strings (bad entry ${k})`,
        );
      }
      id2label.set(id, v);
    }
  } else {
    // transformers' default: num_labels (2 unless given) labels named LABEL_i.
    const n = typeof raw.num_labels === 'number' && Number.isInteger(raw.num_labels) ? raw.num_labels : 2;
    for (let i = 0; i < n; i++) id2label.set(i, `LABEL_${i}`);
  }
  for (let i = 0; i < id2label.size; i++) {
    if (!id2label.has(i)) {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `${file}: id2label must cover ids 0..${id2label.size - 1} (missing ${i})`,
      );
    }
  }

  let label2id: Array<[string, number]>;
  const rawLabel2id = raw.label2id;
  if (isObject(rawLabel2id)) {
    const order = orderedKeys(text, 'label2id') ?? Object.keys(rawLabel2id);
    label2id = [];
    for (const label of order) {
      const id = rawLabel2id[label];
      if (typeof id !== 'number' || !Number.isInteger(id)) {
        throw new ModelError(
          'ERR_MODEL_LOAD',
          `${file}: label2id must map labels to integer ids (bad entry ${label})`,
        );
      }
      label2id.push([label, id]);
    }
  } else {
    label2id = [...id2label.entries()].sort((a, b) => a[0] - b[0]).map(([id, label]) => [label, id]);
  }

  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const int = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);
  const modelType = str(raw.model_type);
  const padTokenId = int(raw.pad_token_id);
  const positionOffset = positionOffsetOf(modelType, padTokenId);
  // GPT-2 and its relatives name their position table n_positions.
  const maxPositionEmbeddings = int(raw.max_position_embeddings) ?? int(raw.n_positions);
  const relative = hasRotaryPositions(raw) || raw.position_biased_input === false;
  const maxPositions =
    maxPositionEmbeddings === null || relative ? null : Math.max(0, maxPositionEmbeddings - positionOffset);
  return {
    modelType,
    architectures: Array.isArray(raw.architectures)
      ? raw.architectures.filter((a): a is string => typeof a === 'string')
      : [],
    id2label,
    label2id,
    numLabels: id2label.size,
    problemType: str(raw.problem_type),
    functionToApply: str(raw.function_to_apply),
    returnAllScores: typeof raw.return_all_scores === 'boolean' ? raw.return_all_scores : null,
    taskSpecificParams: isObject(raw.task_specific_params) ? raw.task_specific_params : null,
    maxPositionEmbeddings,
    positionOffset,
    maxPositions,
    padTokenId,
    unpaddedRows:
      padTokenId === null &&
      modelType !== null &&
      LAST_TOKEN_CLASSIFIERS.has(modelType) &&
      Array.isArray(raw.architectures) &&
      raw.architectures.some((a) => typeof a === 'string' && a.endsWith('ForSequenceClassification')),
    raw,
  };
}

/** Reads `<dir>/config.json`. */
export function loadModelConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  const { value, text } = readJson(file, 'model config');
  if (!isObject(value)) throw new ModelError('ERR_MODEL_LOAD', `${file} must hold a JSON object`);
  return parseModelConfig(text, value, file);
}

/** The Pooling module's switches, in the order sentence-transformers concatenates the modes. */
const ST_POOLING_KEYS: Array<[string, PoolingMode]> = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_max_tokens', 'max'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len'],
  ['pooling_mode_weightedmean_tokens', 'weightedmean'],
  ['pooling_mode_lasttoken', 'lasttoken'],
];

const SUPPORTED_ST_MODULES = new Set([
  'sentence_transformers.models.Transformer',
  'sentence_transformers.models.Pooling',
  'sentence_transformers.models.Dense',
  'sentence_transformers.models.Normalize',
]);

/** Reads the sentence-transformers files of `dir`; null when it has no modules.json. */
export function loadSentenceTransformersConfig(dir: string): SentenceTransformersConfig | null {
  const modulesFile = path.join(dir, 'modules.json');
  if (!existsSync(modulesFile)) return null;
  const { value } = readJson(modulesFile, 'sentence-transformers modules');
  if (!Array.isArray(value)) throw new ModelError('ERR_MODEL_LOAD', `${modulesFile} must hold a JSON array`);
  const modules = value.filter(isObject).map((m, i) => ({
    idx: typeof m.idx === 'number' ? m.idx : i,
    name: typeof m.name === 'string' ? m.name : String(i),
    path: typeof m.path === 'string' ? m.path : '',
    type: typeof m.type === 'string' ? m.type : '',
  }));

  let maxSeqLength: number | null = null;
  let doLowerCase = false;
  const sbertFile = path.join(dir, 'sentence_bert_config.json');
  if (existsSync(sbertFile)) {
    const { value: sbert } = readJson(sbertFile, 'sentence-transformers config');
    if (isObject(sbert)) {
      if (typeof sbert.max_seq_length === 'number' && Number.isInteger(sbert.max_seq_length)) {
        maxSeqLength = sbert.max_seq_length;
      }
      doLowerCase = sbert.do_lower_case === true;
    }
  }

  let pooling: SentenceTransformersConfig['pooling'] = null;
  const poolingModule = modules.find((m) => m.type === 'sentence_transformers.models.Pooling');
  if (poolingModule) {
    const file = path.join(dir, poolingModule.path, 'config.json');
    if (existsSync(file)) {
      const { value: cfg } = readJson(file, 'pooling config');
      if (isObject(cfg)) {
        const modes = ST_POOLING_KEYS.filter(([k]) => cfg[k] === true).map(([, mode]) => mode);
        pooling = { modes, includePrompt: cfg.include_prompt !== false, raw: cfg };
      }
    }
  }

  let prompts: Record<string, string> = {};
  let defaultPromptName: string | null = null;
  const stFile = path.join(dir, 'config_sentence_transformers.json');
  if (existsSync(stFile)) {
    const { value: st } = readJson(stFile, 'sentence-transformers config');
    if (isObject(st)) {
      if (isObject(st.prompts)) {
        prompts = Object.fromEntries(
          Object.entries(st.prompts).filter((e): e is [string, string] => typeof e[1] === 'string'),
        );
      }
      if (typeof st.default_prompt_name === 'string') defaultPromptName = st.default_prompt_name;
    }
  }

  return {
    modules,
    maxSeqLength,
    doLowerCase,
    pooling,
    normalize: modules.some((m) => m.type === 'sentence_transformers.models.Normalize'),
    unsupportedModules: modules.map((m) => m.type).filter((t) => !SUPPORTED_ST_MODULES.has(t)),
    prompts,
    defaultPromptName,
  };
}

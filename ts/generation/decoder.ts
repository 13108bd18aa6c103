/**
 * How a decoder-only ONNX graph with a KV cache is fed: which inputs it declares (input_ids,
 * attention_mask, position_ids, use_cache_branch, num_logits_to_keep, past_key_values.*), which
 * `present.*` output feeds which past input back, and the cache shape of each ([batch, kv heads,
 * past length, head dim]; grouped-query attention shows as fewer KV heads than attention heads).
 * Layouts read: optimum `model.onnx` (text-generation-with-past), `decoder_model_merged.onnx`
 * (with `use_cache_branch`) and transformers.js `onnx/model*.onnx`.
 */
import { ModelError } from '../errors.js';
import { hasRotaryPositions, type ModelConfig } from '../runtime/config.js';

/** A graph value's declaration (element type and shape, symbolic dims as strings). */
export interface ValueDecl {
  name: string;
  type?: string;
  shape?: ReadonlyArray<number | string>;
}

/** One cache tensor: the past input, the present output that refills it and its fixed dims. */
export interface CacheSlot {
  past: string;
  present: string;
  heads: number;
  headDim: number;
}

export interface DecoderLayout {
  inputIds: string;
  attentionMask: string | null;
  positionIds: string | null;
  useCacheBranch: string | null;
  logitsToKeep: string | null;
  logits: string;
  cache: CacheSlot[];
  /** Total positions the model holds (`n_positions` / `max_position_embeddings`), or null. */
  contextLength: number | null;
  /**
   * Rotary position embeddings (config.json has rope settings): positions past `contextLength`
   * still compute, as in the reference; a learned position table ends there.
   */
  rotary: boolean;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null;
}

/** KV heads and head size from config.json (text_config first for multimodal wrappers). */
function configDims(raw: Record<string, unknown>): { heads: number | null; headDim: number | null } {
  const c = (
    typeof raw.text_config === 'object' && raw.text_config !== null ? raw.text_config : raw
  ) as Record<string, unknown>;
  const attn = num(c.num_attention_heads) ?? num(c.n_head) ?? num(c.num_heads);
  const heads = num(c.num_key_value_heads) ?? num(c.multi_query === true ? 1 : undefined) ?? attn;
  const hidden = num(c.hidden_size) ?? num(c.n_embd) ?? num(c.d_model);
  const headDim = num(c.head_dim) ?? (hidden !== null && attn !== null ? hidden / attn : null);
  return { heads, headDim: headDim !== null && Number.isInteger(headDim) ? headDim : null };
}

/** The model's context length from config.json, or null when it states none. */
export function contextLengthOf(config: ModelConfig): number | null {
  const raw = config.raw;
  const c = (
    typeof raw.text_config === 'object' && raw.text_config !== null ? raw.text_config : raw
  ) as Record<string, unknown>;
  return num(c.max_position_embeddings) ?? num(c.n_positions) ?? num(c.n_ctx) ?? num(c.seq_length);
}

/** Whether config.json describes rotary position embeddings. */
export function isRotary(config: ModelConfig): boolean {
  const raw = config.raw;
  const c = (
    typeof raw.text_config === 'object' && raw.text_config !== null ? raw.text_config : raw
  ) as Record<string, unknown>;
  return hasRotaryPositions(c);
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$|^past\.(\d+)\.(key|value)$|^past_key_values\.(\d+)$/;

/** Reads the decoder layout from the graph's declarations and config.json. */
export function decoderLayout(
  inputs: readonly ValueDecl[],
  outputs: readonly ValueDecl[],
  config: ModelConfig,
): DecoderLayout {
  const inputNames = new Set(inputs.map((i) => i.name));
  const outputNames = outputs.map((o) => o.name);
  if (!inputNames.has('input_ids')) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `this ONNX graph has no input_ids input (inputs: ${[...inputNames].join(', ')}); text generation needs a decoder graph`,
    );
  }
  const logits = outputNames.includes('logits') ? 'logits' : null;
  if (logits === null) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `this ONNX graph has no logits output (outputs: ${outputNames.join(', ')})`,
    );
  }
  const dims = configDims(config.raw);
  const cache: CacheSlot[] = [];
  for (const input of inputs) {
    if (!PAST.test(input.name)) continue;
    const present = input.name.replace(/^past_key_values|^past/, 'present');
    if (!outputNames.includes(present)) {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `the graph feeds ${input.name} but has no ${present} output to refill it (outputs: ${outputNames.join(', ')})`,
      );
    }
    const shape = input.shape ?? [undefined, undefined, undefined, undefined];
    if (shape.length !== 4) {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `cache input ${input.name} has shape [${shape.join(', ')}]; only [batch, heads, past, head_dim] caches are supported`,
      );
    }
    if (input.type !== undefined && input.type !== 'float32') {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `cache input ${input.name} is ${input.type}; only float32 KV caches are supported (pick a fp32 or quantized variant with dtype)`,
      );
    }
    const heads = num(shape[1]) ?? dims.heads;
    const headDim = num(shape[3]) ?? dims.headDim;
    if (heads === null || headDim === null) {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `cannot tell the KV head count and head size of ${input.name} from the graph or config.json`,
      );
    }
    cache.push({ past: input.name, present, heads, headDim });
  }
  if (cache.length === 0) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      'this ONNX graph has no past_key_values inputs; export it with a KV cache (optimum task text-generation-with-past)',
    );
  }
  const pick = (...names: string[]) => names.find((n) => inputNames.has(n)) ?? null;
  return {
    inputIds: 'input_ids',
    attentionMask: pick('attention_mask'),
    positionIds: pick('position_ids'),
    useCacheBranch: pick('use_cache_branch'),
    logitsToKeep: pick('num_logits_to_keep', 'logits_to_keep'),
    logits,
    cache,
    contextLength: contextLengthOf(config),
    rotary: isRotary(config),
  };
}

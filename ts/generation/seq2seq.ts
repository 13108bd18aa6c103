/**
 * How an encoder-decoder model's ONNX graphs are fed. The encoder (`encoder_model.onnx`: input_ids,
 * attention_mask -> last_hidden_state) runs once per input; the decoder runs step by step with a
 * self-attention cache that grows and a cross-attention cache computed at the first step.
 *
 * Decoder layouts read (optimum and transformers.js names):
 * - `decoder_model_merged.onnx`: one graph with `use_cache_branch`; the first step feeds empty
 *   caches and gets both caches back, later steps feed them and get the self-attention part back;
 * - `decoder_model.onnx` (first step, no past inputs) with `decoder_with_past_model.onnx`.
 * Inputs: input_ids, encoder_attention_mask, encoder_hidden_states (first step, and every step of a
 * merged graph), past_key_values.{i}.decoder.{key,value} and past_key_values.{i}.encoder.{key,value};
 * outputs: logits and the matching present.* tensors.
 */
import { ModelError } from '../errors.js';
import type { ModelConfig } from '../runtime/config.js';
import type { CacheSlot, DecoderLayout, ValueDecl } from './decoder.js';

/** The encoder graph's names. */
export interface EncoderLayout {
  /** `input_ids`, or the features input (`input_features`, `pixel_values`) of a speech or vision encoder. */
  inputIds: string;
  attentionMask: string | null;
  output: string;
}

/** The extra names of an encoder-decoder's decoder graph (beside DecoderLayout's). */
export interface CrossLayout {
  encoderAttentionMask: string | null;
  /** The first step's input of the encoder output. */
  encoderHiddenStates: string;
  /** Whether later steps take the encoder output too (a merged decoder does). */
  hiddenEveryStep: boolean;
  /** Cross-attention caches: filled by the first step, fed unchanged afterwards. */
  cross: CacheSlot[];
  /** Width of encoder_hidden_states (d_model). */
  hiddenSize: number;
  /** Model types whose decoder positions are relative (no table limit). */
  relative: boolean;
}

export type Seq2SeqLayout = DecoderLayout & { seq2seq: CrossLayout };

const PAST = /^past_key_values\.(\d+)\.(decoder|encoder)\.(key|value)$/;

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null;
}

/** Heads, head size and hidden size of the decoder from config.json. */
function dims(config: ModelConfig): { heads: number | null; headDim: number | null; hidden: number | null } {
  const c = config.raw;
  const heads = num(c.decoder_attention_heads) ?? num(c.num_heads) ?? num(c.num_attention_heads);
  const hidden = num(c.d_model) ?? num(c.hidden_size);
  const headDim = num(c.d_kv) ?? (hidden !== null && heads !== null ? hidden / heads : null);
  return { heads, headDim: headDim !== null && Number.isInteger(headDim) ? headDim : null, hidden };
}

const RELATIVE_TYPES = new Set(['t5', 'mt5', 'umt5', 'longt5', 'switch_transformers', 'pix2struct']);

/** The encoder's layout from its graph's declarations. */
export function encoderLayout(inputs: readonly ValueDecl[], outputs: readonly ValueDecl[]): EncoderLayout {
  const names = new Set(inputs.map((i) => i.name));
  const input = ['input_ids', 'input_features', 'input_values', 'pixel_values'].find((n) => names.has(n));
  if (input === undefined) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `the encoder graph has no input_ids, input_features, input_values or pixel_values input (inputs: ${[...names].join(', ')})`,
    );
  }
  const out = outputs.find((o) => o.name === 'last_hidden_state') ?? outputs[0];
  if (out === undefined) throw new ModelError('ERR_MODEL_LOAD', 'the encoder graph has no outputs');
  return {
    inputIds: input,
    attentionMask: names.has('attention_mask') ? 'attention_mask' : null,
    output: out.name,
  };
}

/**
 * The decoder's layout, read from the graph that takes the caches (the merged decoder or the
 * with-past decoder) and config.json.
 */
export function seq2seqLayout(
  inputs: readonly ValueDecl[],
  outputs: readonly ValueDecl[],
  config: ModelConfig,
): Seq2SeqLayout {
  const inputNames = new Set(inputs.map((i) => i.name));
  const outputNames = new Set(outputs.map((o) => o.name));
  if (!inputNames.has('input_ids') || !outputNames.has('logits')) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `this decoder graph needs an input_ids input and a logits output (inputs: ${[...inputNames].join(', ')}; outputs: ${[...outputNames].join(', ')})`,
    );
  }
  const d = dims(config);
  const self: CacheSlot[] = [];
  const cross: CacheSlot[] = [];
  for (const input of inputs) {
    const m = PAST.exec(input.name);
    if (m === null) continue;
    const shape = input.shape ?? [];
    if (input.type !== undefined && input.type !== 'float32') {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `cache input ${input.name} is ${input.type}; only float32 caches are supported (pick a fp32 or quantized variant with dtype)`,
      );
    }
    const heads = num(shape[1]) ?? d.heads;
    const headDim = num(shape[3]) ?? d.headDim;
    if (heads === null || headDim === null) {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `cannot tell the head count and head size of ${input.name} from the graph or config.json`,
      );
    }
    const present = input.name.replace(/^past_key_values/, 'present');
    const slot = { past: input.name, present, heads, headDim };
    if (m[2] === 'decoder') {
      if (!outputNames.has(present)) {
        throw new ModelError(
          'ERR_MODEL_LOAD',
          `the decoder feeds ${input.name} but has no ${present} output`,
        );
      }
      self.push(slot);
    } else cross.push(slot);
  }
  if (self.length === 0 || cross.length === 0) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      'this decoder graph takes no past_key_values.*.decoder/encoder inputs; export it with a cache (optimum task text2text-generation-with-past)',
    );
  }
  const hidden = d.hidden;
  if (hidden === null) throw new ModelError('ERR_MODEL_LOAD', 'config.json states no d_model / hidden_size');
  const modelType = config.modelType ?? '';
  const relative = RELATIVE_TYPES.has(modelType);
  return {
    inputIds: 'input_ids',
    attentionMask: null,
    positionIds: null,
    useCacheBranch: inputNames.has('use_cache_branch') ? 'use_cache_branch' : null,
    logitsToKeep: null,
    logits: 'logits',
    cache: self,
    // Decoder positions: Whisper states them apart (max_target_positions).
    contextLength: relative
      ? null
      : (num(config.raw.max_target_positions) ?? num(config.raw.max_position_embeddings)),
    rotary: false,
    seq2seq: {
      encoderAttentionMask: inputNames.has('encoder_attention_mask') ? 'encoder_attention_mask' : null,
      encoderHiddenStates: 'encoder_hidden_states',
      hiddenEveryStep: inputNames.has('encoder_hidden_states'),
      cross,
      hiddenSize: hidden,
      relative,
    },
  };
}

/** Whether a layout is an encoder-decoder's. */
export function isSeq2Seq(layout: DecoderLayout): layout is Seq2SeqLayout {
  return (layout as Partial<Seq2SeqLayout>).seq2seq !== undefined;
}

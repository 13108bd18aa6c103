/**
 * Whisper from a CTranslate2 `model.bin` (WhisperSpec): the variables under transformers'
 * checkpoint names (`model.encoder.layers.0.self_attn.q_proj.weight`, ...), and the
 * configuration files of the model rebuilt from its dimensions and the CTranslate2 `config.json`.
 *
 * CTranslate2 fuses the self-attention Q/K/V projections (`linear_0`, rows q, k, v) and the
 * cross-attention K/V projections (`attention/linear_1`, rows k, v); Whisper's K projections have
 * no bias, so those rows of the fused bias (zeros) are not read. Layer norms are `gamma`/`beta`,
 * the feed-forward `linear_0`/`linear_1` are fc1/fc2, the encoder's sinusoidal table and the
 * decoder's learned positions are `position_encodings/encodings`, and the output projection is
 * tied to the token embeddings.
 */
import type { CTranslate2File } from './ctranslate2.js';
import { conversionError, type SourceTensor, type TensorSource } from './tensor.js';

interface Ct2Ref {
  name: string;
  /** Which part of the fused first axis: index and count of equal parts. */
  part?: [number, number];
}

/** transformers name -> CTranslate2 variable (and fused part) for a Whisper of `layers` layers. */
export function whisperNameMap(encoderLayers: number, decoderLayers: number): Map<string, Ct2Ref> {
  const map = new Map<string, Ct2Ref>();
  const linear = (hf: string, ct2: string, part?: [number, number], bias = true) => {
    map.set(`${hf}.weight`, { name: `${ct2}/weight`, part });
    if (bias) map.set(`${hf}.bias`, { name: `${ct2}/bias`, part });
  };
  const norm = (hf: string, ct2: string) => {
    map.set(`${hf}.weight`, { name: `${ct2}/gamma` });
    map.set(`${hf}.bias`, { name: `${ct2}/beta` });
  };
  const layer = (hf: string, ct2: string, cross: boolean) => {
    const self = `${ct2}/self_attention`;
    linear(`${hf}.self_attn.q_proj`, `${self}/linear_0`, [0, 3]);
    linear(`${hf}.self_attn.k_proj`, `${self}/linear_0`, [1, 3], false);
    linear(`${hf}.self_attn.v_proj`, `${self}/linear_0`, [2, 3]);
    linear(`${hf}.self_attn.out_proj`, `${self}/linear_1`);
    norm(`${hf}.self_attn_layer_norm`, `${self}/layer_norm`);
    if (cross) {
      const att = `${ct2}/attention`;
      linear(`${hf}.encoder_attn.q_proj`, `${att}/linear_0`);
      linear(`${hf}.encoder_attn.k_proj`, `${att}/linear_1`, [0, 2], false);
      linear(`${hf}.encoder_attn.v_proj`, `${att}/linear_1`, [1, 2]);
      linear(`${hf}.encoder_attn.out_proj`, `${att}/linear_2`);
      norm(`${hf}.encoder_attn_layer_norm`, `${att}/layer_norm`);
    }
    linear(`${hf}.fc1`, `${ct2}/ffn/linear_0`);
    linear(`${hf}.fc2`, `${ct2}/ffn/linear_1`);
    norm(`${hf}.final_layer_norm`, `${ct2}/ffn/layer_norm`);
  };
  linear('model.encoder.conv1', 'encoder/conv1');
  linear('model.encoder.conv2', 'encoder/conv2');
  map.set('model.encoder.embed_positions.weight', { name: 'encoder/position_encodings/encodings' });
  for (let i = 0; i < encoderLayers; i++) layer(`model.encoder.layers.${i}`, `encoder/layer_${i}`, false);
  norm('model.encoder.layer_norm', 'encoder/layer_norm');
  map.set('model.decoder.embed_tokens.weight', { name: 'decoder/embeddings/weight' });
  map.set('proj_out.weight', { name: 'decoder/projection/weight' });
  map.set('model.decoder.embed_positions.weight', { name: 'decoder/position_encodings/encodings' });
  for (let i = 0; i < decoderLayers; i++) layer(`model.decoder.layers.${i}`, `decoder/layer_${i}`, true);
  norm('model.decoder.layer_norm', 'decoder/layer_norm');
  return map;
}

/** Layer count of one side of the model (`encoder` / `decoder`): the `layer_<i>` prefixes present. */
function layerCount(file: CTranslate2File, side: string): number {
  let n = 0;
  while (file.info(`${side}/layer_${n}/ffn/linear_0/weight`)) n++;
  return n;
}

/** Dimensions read from a CTranslate2 Whisper model. */
export interface WhisperDims {
  vocabSize: number;
  dModel: number;
  numMelBins: number;
  encoderLayers: number;
  decoderLayers: number;
  encoderFfnDim: number;
  decoderFfnDim: number;
  maxSourcePositions: number;
  maxTargetPositions: number;
}

/** A CTranslate2 WhisperSpec model seen as a transformers WhisperForConditionalGeneration checkpoint. */
export class WhisperCt2Source implements TensorSource {
  readonly dims: WhisperDims;
  private readonly map: Map<string, Ct2Ref>;

  constructor(private readonly file: CTranslate2File) {
    if (file.spec !== 'WhisperSpec')
      throw conversionError(`CTranslate2 spec ${file.spec} is not WhisperSpec`);
    const shape = (name: string) => {
      const info = file.info(name);
      if (!info) throw conversionError(`CTranslate2 Whisper model lacks ${name}`);
      return info.shape;
    };
    const [vocabSize = 0, dModel = 0] = shape('decoder/embeddings/weight');
    const encoderLayers = layerCount(file, 'encoder');
    const decoderLayers = layerCount(file, 'decoder');
    if (encoderLayers === 0 || decoderLayers === 0)
      throw conversionError('CTranslate2 Whisper model has no layers');
    this.dims = {
      vocabSize,
      dModel,
      numMelBins: shape('encoder/conv1/weight')[1] ?? 0,
      encoderLayers,
      decoderLayers,
      encoderFfnDim: shape('encoder/layer_0/ffn/linear_0/weight')[0] ?? 0,
      decoderFfnDim: shape('decoder/layer_0/ffn/linear_0/weight')[0] ?? 0,
      maxSourcePositions: shape('encoder/position_encodings/encodings')[0] ?? 0,
      maxTargetPositions: shape('decoder/position_encodings/encodings')[0] ?? 0,
    };
    this.map = whisperNameMap(encoderLayers, decoderLayers);
  }

  names(): string[] {
    return [...this.map.entries()].filter(([, ref]) => this.file.info(ref.name)).map(([hf]) => hf);
  }

  get(name: string): SourceTensor {
    const ref = this.map.get(name);
    if (!ref) throw conversionError(`a Whisper checkpoint has no tensor ${name}`);
    const t = this.file.get(ref.name);
    if (!ref.part) return t;
    const [index, count] = ref.part;
    const rows = t.shape[0] ?? 0;
    if (rows % count !== 0) throw conversionError(`${ref.name}: ${rows} rows do not split in ${count}`);
    const step = rows / count;
    const width = rows === 0 ? 0 : t.data.length / rows;
    return {
      data: t.data.subarray(index * step * width, (index + 1) * step * width),
      shape: [step, ...t.shape.slice(1)],
    };
  }
}

/** The CTranslate2 converter's `config.json` for Whisper (copied from the model's generation config). */
interface Ct2WhisperConfig {
  alignment_heads?: unknown;
  suppress_ids?: unknown;
  suppress_ids_begin?: unknown;
}

interface TokenizerJson {
  added_tokens?: Array<{ id: number; content: string; special?: boolean }>;
}

const isIdList = (v: unknown): v is number[] =>
  Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
const isPairList = (v: unknown): v is Array<[number, number]> =>
  Array.isArray(v) && v.every((p) => isIdList(p) && p.length === 2);

/** Whisper's attention heads are 64 wide in every published size. */
const WHISPER_HEAD_DIM = 64;

/**
 * config.json, generation_config.json, preprocessor_config.json, tokenizer_config.json and
 * special_tokens_map.json of an English-only Whisper: the architecture from the weights, the
 * suppressed tokens and alignment heads from the CTranslate2 configuration, the special token ids
 * from tokenizer.json, everything else as the hub's openai/whisper-*.en repositories publish it.
 */
export function whisperEnglishConfigFiles(
  dims: WhisperDims,
  ct2Config: Ct2WhisperConfig,
  tokenizer: TokenizerJson,
): Record<string, unknown> {
  const ids = new Map((tokenizer.added_tokens ?? []).map((t) => [t.content, t.id]));
  const id = (token: string) => {
    const v = ids.get(token);
    if (v === undefined) throw conversionError(`tokenizer.json lacks the added token ${token}`);
    return v;
  };
  const eot = id('<|endoftext|>');
  const sot = id('<|startoftranscript|>');
  const noTimestamps = id('<|notimestamps|>');
  const prevSot = id('<|startofprev|>');
  if (dims.vocabSize !== noTimestamps + 1 + 1501) {
    throw conversionError(
      `vocabulary of ${dims.vocabSize} tokens is not an English-only Whisper's (${noTimestamps + 1502})`,
    );
  }
  const suppress = ct2Config.suppress_ids;
  const suppressBegin = ct2Config.suppress_ids_begin;
  const alignment = ct2Config.alignment_heads;
  if (!isIdList(suppress) || !isIdList(suppressBegin) || !isPairList(alignment))
    throw conversionError(
      'CTranslate2 config.json lacks suppress_ids, suppress_ids_begin or alignment_heads',
    );
  if (dims.dModel % WHISPER_HEAD_DIM !== 0)
    throw conversionError(`d_model ${dims.dModel} is not a multiple of ${WHISPER_HEAD_DIM}`);
  const heads = dims.dModel / WHISPER_HEAD_DIM;
  const forced = [[1, noTimestamps]];
  const config = {
    activation_dropout: 0.0,
    activation_function: 'gelu',
    architectures: ['WhisperForConditionalGeneration'],
    attention_dropout: 0.0,
    begin_suppress_tokens: suppressBegin,
    bos_token_id: sot,
    d_model: dims.dModel,
    decoder_attention_heads: heads,
    decoder_ffn_dim: dims.decoderFfnDim,
    decoder_layerdrop: 0.0,
    decoder_layers: dims.decoderLayers,
    decoder_start_token_id: sot,
    dropout: 0.0,
    encoder_attention_heads: heads,
    encoder_ffn_dim: dims.encoderFfnDim,
    encoder_layerdrop: 0.0,
    encoder_layers: dims.encoderLayers,
    eos_token_id: eot,
    forced_decoder_ids: forced,
    init_std: 0.02,
    is_encoder_decoder: true,
    max_length: dims.maxTargetPositions,
    max_source_positions: dims.maxSourcePositions,
    max_target_positions: dims.maxTargetPositions,
    model_type: 'whisper',
    num_hidden_layers: dims.encoderLayers,
    num_mel_bins: dims.numMelBins,
    pad_token_id: eot,
    scale_embedding: false,
    suppress_tokens: suppress,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: dims.vocabSize,
  };
  const generation = {
    alignment_heads: alignment,
    begin_suppress_tokens: suppressBegin,
    bos_token_id: sot,
    decoder_start_token_id: sot,
    eos_token_id: eot,
    forced_decoder_ids: forced,
    is_multilingual: false,
    max_initial_timestamp_index: 1,
    max_length: dims.maxTargetPositions,
    no_timestamps_token_id: noTimestamps,
    pad_token_id: eot,
    prev_sot_token_id: prevSot,
    return_timestamps: false,
    suppress_tokens: suppress,
  };
  const preprocessor = {
    chunk_length: 30,
    feature_extractor_type: 'WhisperFeatureExtractor',
    feature_size: dims.numMelBins,
    hop_length: 160,
    n_fft: 400,
    n_samples: 480000,
    nb_max_frames: 3000,
    padding_side: 'right',
    padding_value: 0.0,
    processor_class: 'WhisperProcessor',
    return_attention_mask: false,
    sampling_rate: 16000,
  };
  const special = (tokenizer.added_tokens ?? [])
    .filter((t) => t.special !== false && t.id !== eot)
    .sort((a, b) => a.id - b.id)
    .map((t) => t.content);
  const tokenizerConfig = {
    add_bos_token: false,
    add_prefix_space: false,
    bos_token: '<|endoftext|>',
    eos_token: '<|endoftext|>',
    errors: 'replace',
    model_max_length: 1024,
    pad_token: '<|endoftext|>',
    processor_class: 'WhisperProcessor',
    return_attention_mask: false,
    tokenizer_class: 'WhisperTokenizer',
    unk_token: '<|endoftext|>',
  };
  const specialTokensMap = {
    additional_special_tokens: special,
    bos_token: '<|endoftext|>',
    eos_token: '<|endoftext|>',
    pad_token: '<|endoftext|>',
    unk_token: '<|endoftext|>',
  };
  return {
    'config.json': config,
    'generation_config.json': generation,
    'preprocessor_config.json': preprocessor,
    'tokenizer_config.json': tokenizerConfig,
    'special_tokens_map.json': specialTokensMap,
  };
}

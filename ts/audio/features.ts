/**
 * A speech model's feature extractor, read from its `preprocessor_config.json`, computing the
 * model's feeds from mono samples in the native core (off the event loop):
 * `Wav2Vec2FeatureExtractor` (also used by HuBERT, WavLM, Data2VecAudio, UniSpeech...):
 * `input_values` (normalised when `do_normalize`) plus an all-ones `attention_mask` when the
 * graph takes one; `WhisperFeatureExtractor`: `input_features` log-mel (80 or 128 bins).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError, ModelError } from '../errors.js';
import { audioFeatures } from '../native.js';
import type { LoadedModel } from '../runtime/model.js';
import type { TensorLike } from '../runtime/runner.js';

export type FeatureExtractorKind = 'wav2vec2' | 'whisper';

export interface FeatureExtractorConfig {
  kind: FeatureExtractorKind;
  /** The extractor's class name in preprocessor_config.json. */
  className: string;
  samplingRate: number;
  doNormalize: boolean;
  paddingValue: number;
  /** Whisper settings. */
  featureSize: number;
  hopLength: number;
  nFft: number;
  /** Whisper: samples of one 30 s window (`chunk_length * sampling_rate`). */
  nSamples: number;
  chunkLength: number;
}

/** Extractor classes computing raw `input_values` as Wav2Vec2FeatureExtractor does. */
const WAV2VEC2_LIKE = new Set(['Wav2Vec2FeatureExtractor', 'SeamlessM4TFeatureExtractor']);

function num(raw: Record<string, unknown>, key: string, fallback: number): number {
  const v = raw[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** Reads the model's `preprocessor_config.json`. */
export function loadFeatureExtractor(model: LoadedModel): FeatureExtractorConfig {
  const file = path.join(model.dir, 'preprocessor_config.json');
  if (!existsSync(file)) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${model.id} has no preprocessor_config.json (an audio model needs one)`,
    );
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ModelError('ERR_MODEL_LOAD', `model ${model.id}: preprocessor_config.json is not valid JSON`, {
      cause: err,
    });
  }
  const className =
    typeof raw.feature_extractor_type === 'string' ? raw.feature_extractor_type : 'Wav2Vec2FeatureExtractor';
  let kind: FeatureExtractorKind;
  if (className === 'WhisperFeatureExtractor') kind = 'whisper';
  else if (WAV2VEC2_LIKE.has(className)) kind = 'wav2vec2';
  else {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${model.id}: feature extractor ${className} is not supported (supported: Wav2Vec2FeatureExtractor, WhisperFeatureExtractor)`,
    );
  }
  const samplingRate = num(raw, 'sampling_rate', 16000);
  if (!Number.isInteger(samplingRate) || samplingRate < 1 || samplingRate > 768_000) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${model.id}: invalid sampling_rate ${String(raw.sampling_rate)}`,
    );
  }
  const chunkLength = num(raw, 'chunk_length', 30);
  return {
    kind,
    className,
    samplingRate,
    doNormalize: raw.do_normalize === true || (kind === 'wav2vec2' && raw.do_normalize === undefined),
    paddingValue: num(raw, 'padding_value', 0),
    featureSize: num(raw, 'feature_size', kind === 'whisper' ? 80 : 1),
    hopLength: num(raw, 'hop_length', 160),
    nFft: num(raw, 'n_fft', 400),
    nSamples: num(raw, 'n_samples', chunkLength * samplingRate),
    chunkLength,
  };
}

/** Whisper padding: to a 30 s window (default, longer inputs cut) or to the input's own length. */
export interface WhisperPadding {
  padding: 'max_length' | 'longest';
  truncation: boolean;
}

/**
 * The feeds of one input for the graph's input names: `input_values` / `input_features`, and
 * `attention_mask` when the graph takes it.
 */
export async function audioFeeds(
  fe: FeatureExtractorConfig,
  samples: Float32Array,
  inputNames: readonly string[],
  whisper: WhisperPadding = { padding: 'max_length', truncation: true },
): Promise<Record<string, TensorLike>> {
  const feeds: Record<string, TensorLike> = {};
  if (fe.kind === 'wav2vec2') {
    const out = await audioFeatures(samples, { kind: 'wav2vec2', doNormalize: fe.doNormalize });
    const n = out.values.length;
    for (const name of inputNames) {
      if (name === 'input_values') feeds[name] = { type: 'float32', data: out.values, dims: [1, n] };
      else if (name === 'attention_mask') {
        feeds[name] = { type: 'int64', data: new BigInt64Array(n).fill(1n), dims: [1, n] };
      } else {
        throw new ModelError(
          'ERR_MODEL_LOAD',
          `the audio model takes an input ${name} that cannot be provided`,
        );
      }
    }
    return feeds;
  }
  const out = await audioFeatures(samples, {
    kind: 'whisper',
    doNormalize: fe.doNormalize,
    featureSize: fe.featureSize,
    samplingRate: fe.samplingRate,
    hopLength: fe.hopLength,
    nFft: fe.nFft,
    paddingValue: fe.paddingValue,
    nSamples: whisper.padding === 'longest' ? 0 : fe.nSamples,
    truncation: whisper.truncation,
  });
  const [, bins, frames] = out.shape as [number, number, number];
  for (const name of inputNames) {
    if (name === 'input_features')
      feeds[name] = { type: 'float32', data: out.values, dims: [1, bins, frames] };
    else if (name === 'attention_mask') {
      const mask = new BigInt64Array(frames);
      mask.fill(1n, 0, out.attentionFrames ?? frames);
      feeds[name] = { type: 'int64', data: mask, dims: [1, frames] };
    } else {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `the audio model takes an input ${name} that cannot be provided`,
      );
    }
  }
  return feeds;
}

/**
 * The fewest samples a wav2vec2-style convolutional front end accepts (its receptive field:
 * 400 samples, 25 ms at 16 kHz, for wav2vec2-base); shorter input would fail inside the network.
 * 0 when the config has no convolution stack.
 */
export function minInputSamples(config: Record<string, unknown>): number {
  const kernels = config.conv_kernel;
  const strides = config.conv_stride;
  if (!Array.isArray(kernels) || !Array.isArray(strides) || kernels.length !== strides.length) return 0;
  let need = 1;
  for (let i = kernels.length - 1; i >= 0; i--) {
    const k = kernels[i];
    const s = strides[i];
    if (typeof k !== 'number' || typeof s !== 'number') return 0;
    need = (need - 1) * s + k;
  }
  return need;
}

/** Rejects input shorter than the model's receptive field with a clear 400. */
export function checkInputLength(model: LoadedModel, fe: FeatureExtractorConfig, samples: number): void {
  const need = minInputSamples(model.config.raw);
  if (samples < need) {
    throw new InvalidInputError(
      'ERR_INVALID_INPUT',
      `audio too short: ${samples} samples at ${fe.samplingRate} Hz; model ${model.id} needs at least ${need} samples (${((need / fe.samplingRate) * 1000).toFixed(1)} ms)`,
    );
  }
}

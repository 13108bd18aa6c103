/**
 * A speech model's feature extractor, read from its `preprocessor_config.json`, computing the
 * model's feeds from mono samples in the native core (off the event loop):
 * `Wav2Vec2FeatureExtractor` (also used by HuBERT, WavLM, Data2VecAudio, UniSpeech...):
 * `input_values` (normalised when `do_normalize`) plus an all-ones `attention_mask` when the
 * graph takes one; `WhisperFeatureExtractor`: `input_features` log-mel (80 or 128 bins);
 * `ASTFeatureExtractor` (Audio Spectrogram Transformer): `input_values`
 * `[1, max_length, num_mel_bins]`, a Kaldi-style log-mel filter bank (25 ms frames every 10 ms
 * at 16 kHz, padded or cut to `max_length` frames, normalised with the dataset's mean and std),
 * as transformers computes it without torchaudio; `Speech2TextFeatureExtractor`: `input_features`
 * `[1, frames, num_mel_bins]`, the same filter bank on 16-bit-scaled samples with Kaldi's Povey
 * window, normalised per utterance (each bin's mean and deviation over the frames).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError, ModelError } from '../errors.js';
import { audioFeatures } from '../native.js';
import type { LoadedModel } from '../runtime/model.js';
import type { TensorLike } from '../runtime/runner.js';

export type FeatureExtractorKind = 'wav2vec2' | 'whisper' | 'ast' | 's2t';

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
  /** AST settings (their defaults for the other kinds). Mel bins. */
  numMelBins: number;
  /** AST: frames the features are padded or cut to. */
  maxLength: number;
  /** AST: normalisation mean (`(x - mean) / (2 * std)` when `doNormalize`). */
  mean: number;
  /** AST: normalisation standard deviation. */
  std: number;
  /** Speech2Text: utterance-level mean and variance normalisation (and which of the two). */
  doCeptralNormalize: boolean;
  normalizeMeans: boolean;
  normalizeVars: boolean;
}

/** `ASTFeatureExtractor`'s defaults (MIT/ast-finetuned-audioset-*: AudioSet mean and std). */
const AST_DEFAULTS = { numMelBins: 128, maxLength: 1024, mean: -4.2677393, std: 4.5689974 } as const;
/** Limits of the AST settings (the native core enforces the same). */
const AST_MAX_MEL_BINS = 1024;
const AST_MAX_LENGTH = 65_536;
const AST_MAX_VALUES = 16 * 1024 * 1024;
/** `sampling_rate // 2` must reach the filter bank's lowest frequency, 20 Hz. */
const AST_MIN_SAMPLING_RATE = 40;
/**
 * Fewest samples the AST extractor accepts: the reference asks numpy for a negative number of
 * frames below 240 (`1 + floor((n - 400) / 160)`); 240 to 399 samples give no frame (padding).
 */
export const AST_MIN_SAMPLES = 240;

/**
 * Fewest samples a Speech2Text model is given: one 400-sample frame (fewer give the reference's
 * extractor no frame, or a negative count, and the network nothing to read).
 */
const S2T_MIN_SAMPLES = 400;

/**
 * Extractor classes computing raw `input_values` as Wav2Vec2FeatureExtractor does
 * (SeamlessM4TFeatureExtractor, w2v-BERT's, computes a stacked filter bank instead: refused).
 */
const WAV2VEC2_LIKE = new Set(['Wav2Vec2FeatureExtractor']);

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
  else if (className === 'ASTFeatureExtractor') kind = 'ast';
  else if (className === 'Speech2TextFeatureExtractor') kind = 's2t';
  else if (WAV2VEC2_LIKE.has(className)) kind = 'wav2vec2';
  else {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${model.id}: feature extractor ${className} is not supported (supported: Wav2Vec2FeatureExtractor, WhisperFeatureExtractor, ASTFeatureExtractor, Speech2TextFeatureExtractor)`,
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
  const config: FeatureExtractorConfig = {
    kind,
    className,
    samplingRate,
    doNormalize: raw.do_normalize === true || (kind !== 'whisper' && raw.do_normalize === undefined),
    paddingValue: num(raw, 'padding_value', 0),
    featureSize: num(raw, 'feature_size', kind === 'whisper' ? 80 : 1),
    hopLength: num(raw, 'hop_length', 160),
    nFft: num(raw, 'n_fft', 400),
    nSamples: num(raw, 'n_samples', chunkLength * samplingRate),
    chunkLength,
    ...AST_DEFAULTS,
    doCeptralNormalize: true,
    normalizeMeans: true,
    normalizeVars: true,
  };
  if (kind === 'ast') Object.assign(config, astSettings(model, raw, samplingRate, config.doNormalize));
  if (kind === 's2t') Object.assign(config, s2tSettings(model, raw, samplingRate));
  return config;
}

/**
 * Readers of `preprocessor_config.json` values that fail at load with the key and what it must
 * be: integers within `1..max`, finite numbers, booleans (each with its default when absent).
 */
function settingsReader(model: LoadedModel, raw: Record<string, unknown>) {
  const bad = (what: string): never => {
    throw new ModelError('ERR_MODEL_LOAD', `model ${model.id}: preprocessor_config.json: ${what}`);
  };
  const int = (key: string, fallback: number, max: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
      bad(`${key} must be an integer between 1 and ${max}, got ${JSON.stringify(raw[key])}`);
    }
    return v as number;
  };
  const real = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      bad(`${key} must be a finite number, got ${JSON.stringify(raw[key])}`);
    }
    return v as number;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'boolean') bad(`${key} must be a boolean, got ${JSON.stringify(raw[key])}`);
    return v as boolean;
  };
  return { bad, int, real, flag };
}

/**
 * Speech2Text's extractor settings, checked: mel bins within the limit and equal to the
 * network's `input_feat_per_channel`, flags that are booleans, and no dither (the reference
 * adds random noise then, which cannot be reproduced).
 */
function s2tSettings(
  model: LoadedModel,
  raw: Record<string, unknown>,
  samplingRate: number,
): Pick<FeatureExtractorConfig, 'numMelBins' | 'doCeptralNormalize' | 'normalizeMeans' | 'normalizeVars'> {
  const { bad, int, flag } = settingsReader(model, raw);
  const bins = int('num_mel_bins', 80, AST_MAX_MEL_BINS);
  const dither = raw.dither ?? 0;
  if (dither !== 0) {
    bad(`dither ${JSON.stringify(raw.dither)} adds random noise to the samples; only dither 0 is supported`);
  }
  if (samplingRate < AST_MIN_SAMPLING_RATE) {
    bad(
      `sampling_rate must be at least ${AST_MIN_SAMPLING_RATE} (its mel filters start at 20 Hz), got ${samplingRate}`,
    );
  }
  const want = model.config.raw.input_feat_per_channel;
  if (typeof want === 'number' && want !== bins) {
    bad(
      `num_mel_bins is ${bins} but config.json's input_feat_per_channel is ${want} (the network's input shape)`,
    );
  }
  return {
    numMelBins: bins,
    doCeptralNormalize: flag('do_ceptral_normalize', true),
    normalizeMeans: flag('normalize_means', true),
    normalizeVars: flag('normalize_vars', true),
  };
}

/**
 * The AST extractor's settings, checked: a value that is present must be of the right type and
 * within the limits, and the graph must take `[batch, max_length, num_mel_bins]` input_values
 * as config.json describes it.
 */
function astSettings(
  model: LoadedModel,
  raw: Record<string, unknown>,
  samplingRate: number,
  doNormalize: boolean,
): Pick<FeatureExtractorConfig, 'numMelBins' | 'maxLength' | 'mean' | 'std'> {
  const { bad, int, real } = settingsReader(model, raw);
  const numMelBins = int('num_mel_bins', AST_DEFAULTS.numMelBins, AST_MAX_MEL_BINS);
  const maxLength = int('max_length', AST_DEFAULTS.maxLength, AST_MAX_LENGTH);
  if (numMelBins * maxLength > AST_MAX_VALUES) {
    bad(`max_length x num_mel_bins must be at most ${AST_MAX_VALUES}, got ${maxLength} x ${numMelBins}`);
  }
  if (samplingRate < AST_MIN_SAMPLING_RATE) {
    bad(
      `sampling_rate must be at least ${AST_MIN_SAMPLING_RATE} for ASTFeatureExtractor (its mel filters start at 20 Hz), got ${samplingRate}`,
    );
  }
  const mean = real('mean', AST_DEFAULTS.mean);
  const std = real('std', AST_DEFAULTS.std);
  // The divisor 2 * std is an f32 in the reference (numpy float32 arithmetic).
  const divisor = Math.fround(2 * std);
  if (doNormalize && (divisor === 0 || !Number.isFinite(divisor))) {
    bad(`std must be non-zero and within float32 range when do_normalize is set, got ${std}`);
  }
  // The graph's fixed input shape comes from config.json; a preprocessor that disagrees would
  // make every run fail inside the network.
  const cfg = model.config.raw;
  for (const [key, value] of [
    ['num_mel_bins', numMelBins],
    ['max_length', maxLength],
  ] as const) {
    const want = cfg[key];
    if (typeof want === 'number' && want !== value) {
      bad(`${key} is ${value} but config.json's is ${want} (the network's input shape)`);
    }
  }
  const names = model.runner.inputNames;
  if (!names.includes('input_values') || names.some((n) => n !== 'input_values')) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${model.id}: an ASTFeatureExtractor model's graph must take input_values only, it takes ${names.join(', ')}`,
    );
  }
  return { numMelBins, maxLength, mean, std };
}

/** The error for a graph input the feature extractor does not compute. */
function unprovidedInput(name: string): ModelError {
  return new ModelError('ERR_MODEL_LOAD', `the audio model takes an input ${name} that cannot be provided`);
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
  if (fe.kind === 's2t') {
    const out = await audioFeatures(samples, {
      kind: 's2t',
      samplingRate: fe.samplingRate,
      numMelBins: fe.numMelBins,
      doCeptralNormalize: fe.doCeptralNormalize,
      normalizeMeans: fe.normalizeMeans,
      normalizeVars: fe.normalizeVars,
    });
    const frames = out.shape[1] ?? 0;
    for (const name of inputNames) {
      if (name === 'input_features') {
        feeds[name] = { type: 'float32', data: out.values, dims: [1, frames, fe.numMelBins] };
      } else if (name === 'attention_mask') {
        feeds[name] = { type: 'int64', data: new BigInt64Array(frames).fill(1n), dims: [1, frames] };
      } else {
        throw unprovidedInput(name);
      }
    }
    return feeds;
  }
  if (fe.kind === 'ast') {
    const out = await audioFeatures(samples, {
      kind: 'ast',
      samplingRate: fe.samplingRate,
      doNormalize: fe.doNormalize,
      numMelBins: fe.numMelBins,
      maxLength: fe.maxLength,
      mean: fe.mean,
      std: fe.std,
    });
    for (const name of inputNames) {
      if (name === 'input_values') {
        feeds[name] = { type: 'float32', data: out.values, dims: [1, fe.maxLength, fe.numMelBins] };
      } else {
        throw unprovidedInput(name);
      }
    }
    return feeds;
  }
  if (fe.kind === 'wav2vec2') {
    const out = await audioFeatures(samples, { kind: 'wav2vec2', doNormalize: fe.doNormalize });
    const n = out.values.length;
    for (const name of inputNames) {
      if (name === 'input_values') feeds[name] = { type: 'float32', data: out.values, dims: [1, n] };
      else if (name === 'attention_mask') {
        feeds[name] = { type: 'int64', data: new BigInt64Array(n).fill(1n), dims: [1, n] };
      } else {
        throw unprovidedInput(name);
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
      throw unprovidedInput(name);
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

/**
 * Rejects input shorter than the model's receptive field (or, for AST, than the extractor
 * accepts) with a clear 400.
 */
export function checkInputLength(model: LoadedModel, fe: FeatureExtractorConfig, samples: number): void {
  const need =
    fe.kind === 'ast'
      ? AST_MIN_SAMPLES
      : fe.kind === 's2t'
        ? S2T_MIN_SAMPLES
        : minInputSamples(model.config.raw);
  if (samples < need) {
    throw new InvalidInputError(
      'ERR_INVALID_INPUT',
      `audio too short: ${samples} samples at ${fe.samplingRate} Hz; model ${model.id} needs at least ${need} samples (${((need / fe.samplingRate) * 1000).toFixed(1)} ms)`,
    );
  }
}

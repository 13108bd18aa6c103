/**
 * Automatic speech recognition (`automatic-speech-recognition`): task contract section 10.
 *
 * The task decodes the inputs (bytes, base64, path, `{raw, sampling_rate}`) to mono samples at
 * the feature extractor's rate, parses the parameters every model type shares, then hands
 * each input to the backend of the model's type:
 *
 * - `ctc` (wav2vec2, HuBERT, WavLM, Data2VecAudio... `ForCTC`): implemented here: feature
 *   extraction, one network run per window, argmax, stride removal, CTC decoding and
 *   `char` / `word` timestamps;
 * - `seq2seq_whisper` (Whisper) and `seq2seq` (other speech encoder-decoders): plugged in with
 *   {@link registerAsrBackend}; until one is registered such models fail with a clear error.
 */

import { CtcTokenizer } from '../audio/ctc.js';
import {
  audioFeeds,
  checkInputLength,
  type FeatureExtractorConfig,
  loadFeatureExtractor,
} from '../audio/features.js';
import type { Audio } from '../audio/input.js';
import { audioOptionsOf, loadAudioInputs } from '../audio/run.js';
import { InvalidParameterError, ModelError } from '../errors.js';
import type { GenerationSettings } from '../generation/config.js';
import type { ModelConfig } from '../runtime/config.js';
import type { AutomaticSpeechRecognitionChunk, AutomaticSpeechRecognitionOutput } from '../types/audio.js';
import { floatOutput, logitsName } from './encode.js';
import { describeValue, has, invalidInput, parametersObject } from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

/** The ASR pipeline's own generation defaults (transformers 4.57), under the model's generation config. */
export const ASR_GENERATION_DEFAULTS: Partial<GenerationSettings> = { max_new_tokens: 256, num_beams: 5 };

/** How a model turns audio into text (the reference pipeline's `self.type`). */
export type AsrModelType = 'ctc' | 'seq2seq_whisper' | 'seq2seq';

/** The parameters every model type shares, parsed and checked. */
export interface AsrParameters {
  /** `false` (absent), `true`, `'char'` or `'word'`; each backend says which it supports. */
  returnTimestamps: boolean | 'char' | 'word';
  /** Window length in seconds; 0: the whole input at once. */
  chunkLengthS: number;
  /** [left, right] overlap in seconds (default chunk_length_s / 6 each side). */
  strideLengthS: [number, number];
  /** The call's whole parameters object (generation parameters for seq2seq backends). */
  raw: Record<string, unknown>;
}

/** One input as a backend receives it. */
export interface AsrRequest {
  audio: Audio;
  parameters: AsrParameters;
  /**
   * A dict input's `stride` as the reference carries it: `[samples, left, right]` at the
   * model's rate (null without one). CTC leaves the strided logit frames out when the input is
   * not chunked; other encoder-decoders refuse it; Whisper transcribes as without it (the
   * reference's timestamp shift by the stride is not applied).
   */
  stride: [number, number, number] | null;
}

/**
 * The reference's handling of a dict input's `stride`: more stride than samples is refused,
 * then both sides are scaled to the model's rate (`int(round(s * ratio))`).
 */
function inputStride(audio: Audio): [number, number, number] | null {
  if (audio.stride === undefined) return null;
  const { value, sourceRate } = audio.stride;
  const ok =
    Array.isArray(value) &&
    value.length === 2 &&
    value.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0);
  if (!ok) {
    throw invalidInput(
      `\`stride\` must be two non-negative numbers of samples [left, right] (got ${describeValue(value)})`,
    );
  }
  const [left, right] = value as [number, number];
  if (left + right > audio.samples.length) throw invalidInput('Stride is too large for input');
  const ratio = audio.samplingRate / sourceRate;
  return [audio.samples.length, Math.trunc(pyRound(left * ratio)), Math.trunc(pyRound(right * ratio))];
}

/** Transcribes one input. */
export type AsrBackendRun = (request: AsrRequest) => Promise<AutomaticSpeechRecognitionOutput>;

/** Builds a backend's per-input function for a loaded model (checks the model once). */
export type AsrBackend = (
  ctx: TaskContext,
  fe: FeatureExtractorConfig,
) => AsrBackendRun | Promise<AsrBackendRun>;

const BACKENDS: Partial<Record<AsrModelType, AsrBackend>> = {};

/** Installs the backend of a model type (the Whisper engine registers `seq2seq_whisper`). */
export function registerAsrBackend(type: AsrModelType, backend: AsrBackend): void {
  BACKENDS[type] = backend;
}

/** The reference's model-type decision: Whisper, other speech seq2seq, else CTC. */
export function asrModelType(config: ModelConfig): AsrModelType {
  if (config.modelType === 'whisper') return 'seq2seq_whisper';
  if (
    config.architectures.some((a) => a.endsWith('ForConditionalGeneration') || a.endsWith('ForSpeechSeq2Seq'))
  ) {
    return 'seq2seq';
  }
  return 'ctc';
}

/** A parameters object nested under `name` (`generate_kwargs`, `generation_parameters`), or {}. */
export function nestedParameters(raw: Record<string, unknown>, name: string): Record<string, unknown> {
  const v = raw[name];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new InvalidParameterError(name, `\`${name}\` must be an object`);
  }
  return v as Record<string, unknown>;
}

/** Python's `round` (half to even). */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function seconds(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new InvalidParameterError(name, `\`${name}\` must be a number >= 0 (got ${describeValue(v)})`);
  }
  return v;
}

/** Parses the shared parameters (spec 10). */
export function parseAsrParameters(parameters: unknown): AsrParameters {
  const raw = parametersObject(parameters);
  let returnTimestamps: AsrParameters['returnTimestamps'] = false;
  if (has(raw, 'return_timestamps') && raw.return_timestamps !== null) {
    const v = raw.return_timestamps;
    if (v === true || v === false || v === 'char' || v === 'word') returnTimestamps = v;
    else {
      throw new InvalidParameterError(
        'return_timestamps',
        `\`return_timestamps\` must be true, false, "char" or "word" (got ${describeValue(v)})`,
      );
    }
  }
  const chunkLengthS =
    has(raw, 'chunk_length_s') && raw.chunk_length_s !== null
      ? seconds('chunk_length_s', raw.chunk_length_s)
      : 0;
  let strideLengthS: [number, number] = [chunkLengthS / 6, chunkLengthS / 6];
  if (has(raw, 'stride_length_s') && raw.stride_length_s !== null) {
    const v = raw.stride_length_s;
    if (Array.isArray(v)) {
      if (v.length !== 2) {
        throw new InvalidParameterError(
          'stride_length_s',
          '`stride_length_s` must be a number or [left, right]',
        );
      }
      strideLengthS = [seconds('stride_length_s', v[0]), seconds('stride_length_s', v[1])];
    } else {
      const s = seconds('stride_length_s', v);
      strideLengthS = [s, s];
    }
  }
  return { returnTimestamps, chunkLengthS, strideLengthS, raw };
}

/** `config.inputs_to_logits_ratio`: the product of the convolution strides (320 for wav2vec2). */
export function inputsToLogitsRatio(config: ModelConfig): number {
  const raw = config.raw;
  if (typeof raw.inputs_to_logits_ratio === 'number') return raw.inputs_to_logits_ratio;
  const strides = Array.isArray(raw.conv_stride) ? raw.conv_stride : [5, 2, 2, 2, 2, 2, 2];
  let ratio = 1;
  for (const s of strides) if (typeof s === 'number') ratio *= s;
  return ratio;
}

/** One window of a chunked input: samples and its stride in samples. */
export interface AudioWindow {
  samples: Float32Array;
  /** [window length, left stride, right stride]. */
  stride: [number, number, number];
}

/**
 * The reference's `chunk_iter`: windows of `chunkLen` samples every `chunkLen - left - right`;
 * the first has no left stride, the one reaching the end no right stride and ends the
 * iteration; windows not longer than their left stride are skipped.
 */
export function chunkWindows(
  samples: Float32Array,
  chunkLen: number,
  left: number,
  right: number,
): AudioWindow[] {
  const n = samples.length;
  const step = chunkLen - left - right;
  const out: AudioWindow[] = [];
  for (let start = 0; start < n; start += step) {
    const end = start + chunkLen;
    const chunk = samples.subarray(start, Math.min(end, n));
    const l = start === 0 ? 0 : left;
    const isLast = end >= n;
    const r = isLast ? 0 : right;
    if (chunk.length > l) out.push({ samples: chunk, stride: [chunk.length, l, r] });
    if (isLast) break;
  }
  return out;
}

/** The window lengths in samples (`chunk_len, stride_left, stride_right`), aligned to `align`. */
export function windowSizes(params: AsrParameters, rate: number, align: number): [number, number, number] {
  const size = (s: number) => Math.trunc(pyRound((s * rate) / align) * align);
  const chunkLen = size(params.chunkLengthS);
  const left = size(params.strideLengthS[0]);
  const right = size(params.strideLengthS[1]);
  if (chunkLen < left + right) throw invalidInput('Chunk length must be superior to stride length');
  if (chunkLen - left - right <= 0) {
    throw invalidInput('Chunk length must be superior to stride length');
  }
  return [chunkLen, left, right];
}

/** Argmax ids of `[frames, vocab]` logits (the first maximum on ties, as torch). */
function argmaxRows(logits: Float32Array, frames: number, vocab: number, from: number, to: number): number[] {
  const ids: number[] = [];
  for (let f = Math.max(0, from); f < Math.min(frames, to); f++) {
    let best = 0;
    let bestV = logits[f * vocab] as number;
    for (let v = 1; v < vocab; v++) {
      const x = logits[f * vocab + v] as number;
      if (x > bestV || (Number.isNaN(x) && !Number.isNaN(bestV))) {
        best = v;
        bestV = x;
      }
    }
    ids.push(best);
  }
  return ids;
}

/** The CTC backend. */
const ctcBackend: AsrBackend = (ctx, fe) => {
  const { model } = ctx;
  const tokenizer = CtcTokenizer.fromDir(model.dir, model.id);
  const logits = logitsName(model);
  const ratio = inputsToLogitsRatio(model.config);
  return async ({ audio, parameters, stride }) => {
    const ts = parameters.returnTimestamps;
    if (ts === true) {
      throw invalidInput(
        "CTC can either predict character level timestamps, or word level timestamps. Set `return_timestamps='char'` or `return_timestamps='word'` as required.",
      );
    }
    const rate = fe.samplingRate;
    // Chunking cuts its own windows; the input's stride only applies to a single window.
    const windows =
      parameters.chunkLengthS > 0
        ? chunkWindows(audio.samples, ...windowSizes(parameters, rate, ratio))
        : [{ samples: audio.samples, stride }];
    const ids: number[] = [];
    for (const w of windows) {
      checkInputLength(model, fe, w.samples.length);
      const feeds = await audioFeeds(fe, w.samples, model.runner.inputNames);
      const out = await model.runner.run(feeds, { outputs: [logits] });
      const t = out[logits];
      const dims = t?.dims ?? [];
      const frames = dims[1] ?? 0;
      const vocab = dims[2] ?? 0;
      const data = floatOutput(out, logits, [1, frames, vocab]);
      let from = 0;
      let to = frames;
      if (w.stride !== null) {
        // `rescale_stride`: samples -> logit frames, then `items[:, left:total - right]`.
        const [inputN, left, right] = w.stride;
        const tokenN = Math.trunc(pyRound(inputN * (1 / ratio)));
        from = Math.trunc(pyRound((left / inputN) * tokenN));
        to = tokenN - Math.trunc(pyRound((right / inputN) * tokenN));
      }
      for (const id of argmaxRows(data, frames, vocab, from, to)) ids.push(id);
    }
    const decoded = tokenizer.decode(ids);
    const result: AutomaticSpeechRecognitionOutput = { text: decoded.text };
    if (ts === 'char' || ts === 'word') {
      const items =
        ts === 'char'
          ? decoded.charOffsets.map((c) => ({ text: c.char, start: c.start_offset, end: c.end_offset }))
          : decoded.wordOffsets.map((w) => ({ text: w.word, start: w.start_offset, end: w.end_offset }));
      result.chunks = items.map(
        (i): AutomaticSpeechRecognitionChunk => ({
          text: i.text,
          timestamp: [(i.start * ratio) / rate, (i.end * ratio) / rate],
        }),
      );
    }
    return result;
  };
};

registerAsrBackend('ctc', ctcBackend);

async function create(ctx: TaskContext): Promise<TaskRun> {
  const fe = loadFeatureExtractor(ctx.model);
  const type = asrModelType(ctx.model.config);
  const backend = BACKENDS[type];
  if (backend === undefined) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${ctx.model.id} is a ${type === 'seq2seq_whisper' ? 'Whisper' : 'sequence-to-sequence'} speech model, which automatic-speech-recognition does not run yet (CTC models are supported)`,
    );
  }
  const run = await backend(ctx, fe);
  const audioOptions = audioOptionsOf(ctx);
  return async (inputs, parameters) => {
    const params = parseAsrParameters(parameters);
    const { items, single } = await loadAudioInputs(inputs, fe.samplingRate, audioOptions);
    const results: AutomaticSpeechRecognitionOutput[] = [];
    for (const audio of items)
      results.push(await run({ audio, parameters: params, stride: inputStride(audio) }));
    return single ? results[0] : results;
  };
}

const automaticSpeechRecognition: TaskDefinition = { create };
export default automaticSpeechRecognition;

/**
 * Speech recognition on sequence-to-sequence speech models other than Whisper (the reference
 * pipeline's `seq2seq` type: Moonshine's and Speech2Text's `...ForConditionalGeneration` exports),
 * plugged into the task with `registerAsrBackend('seq2seq', ...)`.
 *
 * As transformers 4.57's pipeline does for this type: the feature extractor's output (raw
 * `input_values` for Moonshine, the normalised filter bank `input_features` for Speech2Text)
 * and an all-ones attention mask go to `generate` with the
 * pipeline's generation config (the model's generation_config.json over the pipeline's own
 * defaults, 256 new tokens and 5 beams) and the call's generation parameters; the sequence,
 * decoder start included, is decoded without special tokens. `chunk_length_s` cuts the audio
 * into overlapping windows, each generated alone; their sequences are concatenated whole, as the
 * reference does for this type (its stride-aware join applies to CTC and Whisper outputs only).
 * Timestamps are refused, as the reference refuses them on this type.
 */
import { audioFeeds, checkInputLength, type FeatureExtractorConfig } from '../audio/features.js';
import { HfTasksError, InvalidParameterError } from '../errors.js';
import { type GenerationSettings, modelGenerationConfig, pipelineSettings } from '../generation/config.js';
import { type Generator, isGenerator } from '../generation/engine.js';
import { isSeq2Seq } from '../generation/seq2seq.js';
import type { Tokenizer } from '../tokenizer.js';
import type { AutomaticSpeechRecognitionOutput } from '../types/audio.js';
import {
  ASR_GENERATION_DEFAULTS,
  type AsrBackend,
  type AsrRequest,
  chunkWindows,
  nestedParameters,
  registerAsrBackend,
  windowSizes,
} from './automatic-speech-recognition.js';
import { describeValue, has, invalidInput } from './params.js';
import { applyDecodingParameters, bool, DECODING_KEYS, integer, validate } from './text-generation.js';
import { decoderRequest } from './text2text.js';

/** Parameters of this model type beside the generation settings (read by the task itself). */
const PIPELINE_KEYS = new Set([
  'return_timestamps',
  'chunk_length_s',
  'stride_length_s',
  'ignore_warning',
  'generate_kwargs',
  'generation_parameters',
]);

const GENERATION_KEYS = new Set(DECODING_KEYS);

interface Resolved {
  settings: GenerationSettings;
  seed: number | undefined;
}

function param(name: string, message: string): InvalidParameterError {
  return new InvalidParameterError(name, message);
}

function resolve(base: GenerationSettings, raw: Record<string, unknown>, limit: number): Resolved {
  const params: Record<string, unknown> = {
    ...nestedParameters(raw, 'generation_parameters'),
    ...nestedParameters(raw, 'generate_kwargs'),
  };
  for (const [key, v] of Object.entries(raw)) if (!PIPELINE_KEYS.has(key)) params[key] = v;
  // One sequence per input is all the pipeline returns: 1 is accepted (others are refused by the caller).
  if (params.num_return_sequences === 1) delete params.num_return_sequences;
  for (const key of Object.keys(params)) {
    if (!GENERATION_KEYS.has(key) && params[key] !== undefined) {
      throw param(key, `\`${key}\` is not an automatic-speech-recognition parameter for this model`);
    }
  }
  bool(raw, 'ignore_warning');
  const s: GenerationSettings = { ...base };
  applyDecodingParameters(s, params);
  const maxNew = integer(params, 'max_new_tokens');
  if (maxNew !== undefined) s.max_new_tokens = maxNew;
  else if (has(params, 'max_new_tokens') && params.max_new_tokens === null) s.max_new_tokens = null;
  const maxLength = integer(params, 'max_length');
  if (maxLength !== undefined) s.max_length = maxLength;
  const seed = integer(params, 'seed');
  if (seed !== undefined && (seed < 0 || seed > Number.MAX_SAFE_INTEGER)) {
    throw param('seed', `\`seed\` must be an integer between 0 and ${Number.MAX_SAFE_INTEGER} (got ${seed})`);
  }
  validate(s, s.max_new_tokens, s.max_new_tokens === null ? s.max_length : null, limit);
  return { settings: s, seed };
}

function generatorOf(ctx: Parameters<AsrBackend>[0]): Pick<Generator, 'generate' | 'layout'> {
  const runner = ctx.model.runner;
  if (isGenerator(runner) && isSeq2Seq(runner.layout)) return runner;
  throw new HfTasksError(
    'ERR_MODEL_LOAD',
    `model ${ctx.model.id} is not loaded as an encoder-decoder (it needs encoder_model.onnx and decoder_model_merged.onnx)`,
  );
}

const seq2seqBackend: AsrBackend = (ctx, fe: FeatureExtractorConfig) => {
  const { model } = ctx;
  if (fe.kind !== 'wav2vec2' && fe.kind !== 's2t') {
    throw new HfTasksError(
      'ERR_MODEL_LOAD',
      `model ${model.id}: sequence-to-sequence speech recognition takes raw samples (Wav2Vec2FeatureExtractor) or Speech2Text's filter bank (Speech2TextFeatureExtractor); this model's feature extractor is not served for it`,
    );
  }
  // The encoder's input: raw samples, or the filter bank's frames.
  const inputName = fe.kind === 's2t' ? 'input_features' : 'input_values';
  const generator = generatorOf(ctx);
  const tok: Tokenizer = model.tokenizer;
  const fileConfig = modelGenerationConfig(model.dir, model.config);
  const base = pipelineSettings(
    fileConfig,
    model.config,
    'automatic-speech-recognition',
    ASR_GENERATION_DEFAULTS,
  );
  const limit = ctx.options.generation?.maxNewTokensLimit ?? 4096;
  // Window sizes align to the config's `inputs_to_logits_ratio` when it has one (1 otherwise).
  const declared = model.config.raw.inputs_to_logits_ratio;
  const ratio = typeof declared === 'number' && declared > 0 ? declared : 1;

  // Moonshine's convolutions (kernels 127, 7, 3; strides 64, 3, 2) need enough samples for one
  // frame; shorter input fails inside the network.
  const encoderFrames =
    model.config.modelType === 'moonshine'
      ? (n: number) => {
          const conv = (len: number, kernel: number, stride: number) =>
            Math.floor((len - kernel) / stride) + 1;
          return conv(conv(conv(n, 127, 64), 7, 3), 3, 2);
        }
      : null;

  const generateOne = async (samples: Float32Array, r: Resolved): Promise<number[]> => {
    // One sequence per input, as the pipeline squeezes it.
    const settings = { ...r.settings, num_return_sequences: 1 };
    const req = decoderRequest(settings, tok, limit, null, r.seed, false);
    if (encoderFrames !== null && encoderFrames(samples.length) < 1) {
      throw invalidInput(
        `the audio is too short for this model: ${samples.length} samples (${(samples.length / fe.samplingRate).toFixed(4)} s) give its encoder no frames`,
      );
    }
    // Speech2Text's filter bank needs one 400-sample frame.
    if (fe.kind === 's2t') checkInputLength(model, fe, samples.length);
    const feeds = await audioFeeds(fe, samples, [inputName]);
    const values = feeds[inputName];
    if (values === undefined || !(values.data instanceof Float32Array)) {
      throw new HfTasksError('ERR_INTERNAL', 'the input values were not computed');
    }
    req.encoderFeatures = { data: values.data, dims: [...values.dims] };
    const out = await generator.generate(req, {});
    return [...req.promptIds, ...(out.sequences[0]?.ids ?? [])];
  };

  return async ({ audio, parameters, stride }: AsrRequest) => {
    if (stride !== null) throw invalidInput('Stride is only usable with CTC models, try removing it !');
    if (parameters.returnTimestamps !== false) {
      throw invalidInput('We cannot return_timestamps yet on non-CTC models apart from Whisper!');
    }
    if (has(parameters.raw, 'num_return_sequences') && parameters.raw.num_return_sequences !== 1) {
      throw param(
        'num_return_sequences',
        `\`num_return_sequences\` must be 1 for speech recognition (got ${describeValue(parameters.raw.num_return_sequences)})`,
      );
    }
    const r = resolve(base, parameters.raw, limit);
    let tokens: number[];
    if (parameters.chunkLengthS > 0) {
      const windows = chunkWindows(audio.samples, ...windowSizes(parameters, fe.samplingRate, ratio));
      tokens = [];
      for (const w of windows) for (const t of await generateOne(w.samples, r)) tokens.push(t);
    } else {
      tokens = await generateOne(audio.samples, r);
    }
    const result: AutomaticSpeechRecognitionOutput = {
      text: tok.decode(tokens, { skip_special_tokens: true }),
    };
    return result;
  };
};

registerAsrBackend('seq2seq', seq2seqBackend);

/**
 * Whisper speech recognition (the `seq2seq_whisper` backend of automatic-speech-recognition),
 * following transformers 4.57's pipeline and `WhisperForConditionalGeneration.generate`:
 *
 * - the decoder prompt is `<|startoftranscript|>`, the language (the `language` parameter, the
 *   generation config's `forced_decoder_ids`, or detected from the first decoder step restricted
 *   to the language tokens), the task (`transcribe` / `translate`) and `<|notimestamps|>`;
 *   English-only models (`is_multilingual: false`, or no `lang_to_id`) take no language or task;
 * - `suppress_tokens` and `begin_suppress_tokens` (from the first generated position);
 * - length: `max_new_tokens` (the pipeline's 256 unless the model file sets `max_length`),
 *   bounded by the decoder's `max_target_positions` (an error past it, as the reference raises);
 *   otherwise `max_length` plus the prompt's extra tokens, capped at `max_target_positions`;
 * - beam search with 5 beams by default (the pipeline's default; the call or a model file that
 * sets `num_beams` wins), greedy with `num_beams: 1`, sampling only
 *   with `temperature` > 0 (the reference ignores `do_sample` for Whisper);
 * - `chunk_length_s` / `stride_length_s`: one generation per window, merged by the tokenizer's
 *   ASR decoder (stride-aware longest common sequence);
 * - `return_timestamps: true`: the prompt ends before `<|notimestamps|>` and the timestamp
 *   logits processor (in the native kernels) makes the model emit segment boundaries; the
 *   tokenizer's ASR decoder turns them into `chunks` with `[start, end]` seconds;
 * - long-form audio (over 30 s, no `chunk_length_s`): features of the whole input, then the
 *   reference's sequential loop, 30 s at a time from `seek`, moving past the last complete
 *   segment (timestamps are always generated there and returned only when asked; a generation
 *   config with `return_timestamps: false` refuses such input without `return_timestamps`);
 * - the text is built by {@link decodeAsr} (the reference's `_decode_asr`).
 *
 * Not available: word-level timestamps (`return_timestamps: "word"`), which need the decoder's
 * cross-attention weights that exported decoders do not output (a clear 400), and the
 * reference's temperature fallback / compression and log-probability thresholds (unknown
 * parameters are refused).
 */
import { audioFeeds, type FeatureExtractorConfig } from '../audio/features.js';
import { WHISPER_LANGUAGE_ALIASES, WHISPER_LANGUAGES } from '../audio/whisper-languages.js';
import { HfTasksError, InvalidParameterError } from '../errors.js';
import {
  eosList,
  type GenerationSettings,
  modelGenerationConfig,
  pipelineSettings,
} from '../generation/config.js';
import { type Generator, isGenerator } from '../generation/engine.js';
import type { DecodingConfig } from '../generation/kernels.js';
import type { GenerationRequest } from '../generation/loop.js';
import { isSeq2Seq } from '../generation/seq2seq.js';
import type { Tokenizer } from '../tokenizer.js';
import type { AutomaticSpeechRecognitionChunk, AutomaticSpeechRecognitionOutput } from '../types/audio.js';
import {
  ASR_GENERATION_DEFAULTS,
  type AsrBackend,
  type AsrParameters,
  chunkWindows,
  nestedParameters,
  registerAsrBackend,
  windowSizes,
} from './automatic-speech-recognition.js';
import { describeValue, has, invalidInput } from './params.js';
import { bool, integer } from './text-generation.js';

const TASK_IDS = ['translate', 'transcribe'];

/** Mel frames per encoder position (Whisper's two convolutions: strides 1 and 2). */
const INPUT_STRIDE = 2;

/**
 * Consecutive generation rounds that do not move through the audio before the input is refused
 * (the reference would loop forever on such a model output).
 */
const MAX_STALLED_ROUNDS = 4;

/** Parameters this backend reads (besides the shared ones). */
const KNOWN = new Set([
  'return_timestamps',
  'chunk_length_s',
  'stride_length_s',
  'ignore_warning',
  'return_language',
  'generate_kwargs',
  'generation_parameters',
  'language',
  'task',
  'is_multilingual',
  'max_new_tokens',
  'max_length',
  'num_beams',
  'length_penalty',
  'early_stopping',
  'temperature',
  'seed',
  'do_sample',
  'top_k',
  'top_p',
  'repetition_penalty',
  'no_repeat_ngram_size',
  'min_new_tokens',
]);

/** `language` -> `<|xx|>` as the reference maps it: a token, a name or a code. */
const NAME_TO_CODE = new Map<string, string>([
  ...WHISPER_LANGUAGES.map(([code, name]) => [name, code] as [string, string]),
  ...WHISPER_LANGUAGE_ALIASES,
]);
const CODE_TO_NAME = new Map<string, string>(WHISPER_LANGUAGES.map(([c, n]) => [c, n]));

function pyList(items: readonly string[]): string {
  return `[${items.map((s) => `'${s}'`).join(', ')}]`;
}

interface WhisperConfig {
  decoderStart: number;
  langToId: Map<string, number> | null;
  taskToId: Map<string, number> | null;
  isMultilingual: boolean | null;
  noTimestamps: number | null;
  /** The generation config's `max_initial_timestamp_index`. */
  maxInitialTimestamp: number | null;
  forcedDecoderIds: Array<[number, number | null]> | null;
  maxTargetPositions: number;
  vocabSize: number;
}

function idMap(v: unknown): Map<string, number> | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const out = new Map<string, number>();
  for (const [k, id] of Object.entries(v as Record<string, unknown>)) {
    if (typeof id === 'number' && Number.isInteger(id)) out.set(k, id);
  }
  return out;
}

function forcedIds(v: unknown): Array<[number, number | null]> | null {
  if (!Array.isArray(v) || v.length === 0) return null;
  const out: Array<[number, number | null]> = [];
  for (const pair of v) {
    if (!Array.isArray(pair) || typeof pair[0] !== 'number') return null;
    out.push([pair[0], typeof pair[1] === 'number' ? pair[1] : null]);
  }
  return out;
}

/** Resolves a `language` parameter to its token id (the reference's `language_to_id`). */
export function languageId(cfg: WhisperConfig, language: string): number {
  const lang = language.toLowerCase();
  let token: string;
  if (cfg.langToId?.has(lang)) token = lang;
  else if (NAME_TO_CODE.has(lang)) token = `<|${NAME_TO_CODE.get(lang)}|>`;
  else if (CODE_TO_NAME.has(lang)) token = `<|${lang}|>`;
  else {
    const choices =
      lang.length === 2
        ? [...WHISPER_LANGUAGES.map(([c]) => c), ...WHISPER_LANGUAGE_ALIASES.map(([, c]) => c)]
        : [...NAME_TO_CODE.keys()];
    throw invalidInput(`Unsupported language: ${lang}. Language should be one of: ${pyList(choices)}.`);
  }
  const id = cfg.langToId?.get(token);
  if (id === undefined) {
    throw invalidInput(
      `${token} is not supported by this specific model as it is not in the \`generation_config.lang_to_id\`. (You should just add it to the generation config)`,
    );
  }
  return id;
}

// ------------------------------------------------------------------------------ decodeAsr

/** The reference's `_find_longest_common_sequence` (token lists only). */
export function longestCommonSequence(sequences: number[][]): number[] {
  let left = sequences[0] ?? [];
  const total: number[] = [];
  for (const right of sequences.slice(1)) {
    const leftLength = left.length;
    const rightLength = right.length;
    let best = 0;
    let indices: [number, number, number, number] = [leftLength, leftLength, 0, 0];
    for (let i = 1; i < leftLength + rightLength; i++) {
      const eps = i / 10000.0;
      const leftStart = Math.max(0, leftLength - i);
      const leftStop = Math.min(leftLength, leftLength + rightLength - i);
      const rightStart = Math.max(0, i - leftLength);
      const rightStop = Math.min(rightLength, i);
      let matches = 0;
      for (let k = 0; k < leftStop - leftStart; k++) {
        if (left[leftStart + k] === right[rightStart + k]) matches++;
      }
      const matching = matches / i + eps;
      if (matches > 1 && matching > best) {
        best = matching;
        indices = [leftStart, leftStop, rightStart, rightStop];
      }
    }
    const [ls, le, rs, re] = indices;
    const leftMid = Math.floor((le + ls) / 2);
    const rightMid = Math.floor((re + rs) / 2);
    for (const t of left.slice(0, leftMid)) total.push(t);
    left = right.slice(rightMid);
  }
  for (const t of left) total.push(t);
  return total;
}

/** One window's generated tokens and its stride in seconds ([length, left, right]). */
export interface AsrOutput {
  tokens: number[];
  stride?: [number, number, number];
}

/** Python's `round(x, 2)` on a double (half to even on the decimal value). */
function round2(x: number): number {
  const scaled = x * 100;
  const r = Math.round(scaled);
  if (Math.abs(scaled - Math.trunc(scaled)) === 0.5 && r % 2 !== 0) return (r - 1) / 100;
  return r / 100;
}

/**
 * The reference tokenizer's `_decode_asr` (segment timestamps or plain text): special tokens
 * are dropped (language tokens set the chunk's language), timestamp tokens open and close
 * chunks, strided windows are merged by the longest common sequence.
 */
export function decodeAsr(
  tok: Tokenizer,
  outputs: AsrOutput[],
  options: {
    returnTimestamps: boolean;
    returnLanguage?: boolean;
    timePrecision: number;
    segmentSize?: number;
  },
): AutomaticSpeechRecognitionOutput {
  const returnLanguage = options.returnLanguage === true;
  const segmentSize = options.segmentSize ?? 1500;
  const precision = options.timePrecision;
  const returnTimestamps = options.returnTimestamps;
  const noTs = tok.tokenToId('<|notimestamps|>');
  const timestampBegin = noTs === null ? Number.POSITIVE_INFINITY : noTs + 1;
  const specialCache = new Map<number, string | null>();
  const specialToken = (id: number): string | null => {
    let v = specialCache.get(id);
    // Ids past the tokenizer's vocabulary (timestamps of tokenizers that do not list them) are
    // not special tokens.
    if (v === undefined && id >= tok.vocabSize) v = null;
    if (v === undefined) {
      // A special token is one that decoding with skip_special_tokens drops.
      const shown = tok.decode([id], { skip_special_tokens: false });
      v = shown !== '' && tok.decode([id], { skip_special_tokens: true }) === '' ? shown : null;
      specialCache.set(id, v);
    }
    return v;
  };
  const decode = (ids: number[]) => tok.decode(ids);
  type Chunk = { language: string | null; timestamp: [number | null, number | null]; text: string };
  let lastLanguage: string | null = null;
  const newChunk = (): Chunk => ({ language: lastLanguage, timestamp: [null, null], text: '' });
  const chunks: Chunk[] = [];
  let chunk = newChunk();
  let timeOffset = 0.0;
  let previousTokens: number[][] = [];
  let skip = false;
  let rightStrideStart: number | null = null;
  const promptId = tok.tokenToId('<|startofprev|>');
  const startId = tok.tokenToId('<|startoftranscript|>');
  for (const output of outputs) {
    let tokenIds = output.tokens;
    if (tokenIds.length > 0 && promptId !== null && tokenIds[0] === promptId) {
      const at = startId === null ? -1 : tokenIds.indexOf(startId);
      tokenIds = at < 0 ? [] : tokenIds.slice(at);
    }
    let lastTimestamp: number | null = null;
    let firstTimestamp = timestampBegin;
    let curMax = 0.0;
    let prevSegmentsLen = 0.0;
    let penultimate = 0.0;
    if (output.stride !== undefined) {
      const [chunkLen, strideLeft, strideRight] = output.stride;
      timeOffset -= strideLeft;
      rightStrideStart = chunkLen - strideRight;
      if (strideLeft) firstTimestamp = strideLeft / precision + timestampBegin;
      if (strideRight) {
        for (let k = tokenIds.length - 1; k >= 0; k--) {
          const token = tokenIds[k] as number;
          if (token >= timestampBegin) {
            if (lastTimestamp !== null && (token - timestampBegin) * precision < rightStrideStart) break;
            lastTimestamp = token;
          }
        }
      }
    }
    let currentTokens: number[] = [];
    for (let i = 0; i < tokenIds.length; i++) {
      const token = tokenIds[i] as number;
      const special = specialToken(token);
      if (special !== null) {
        const language = CODE_TO_NAME.get(special.slice(2, -2));
        if (language !== undefined) {
          if (lastLanguage !== null && language !== lastLanguage && !returnTimestamps) {
            previousTokens.push(currentTokens);
            chunk.text = decode(longestCommonSequence(previousTokens));
            chunks.push(chunk);
            previousTokens = [];
            currentTokens = [];
            chunk = newChunk();
          }
          chunk.language = language;
          lastLanguage = language;
        }
      } else if (token >= timestampBegin) {
        const timestamp = (token - timestampBegin) * precision;
        if (timestamp < curMax) {
          const lastWasSingleEnding =
            i >= 2 &&
            !((tokenIds[i - 1] as number) >= timestampBegin && (tokenIds[i - 2] as number) >= timestampBegin);
          if (lastWasSingleEnding) prevSegmentsLen += precision * segmentSize;
          else {
            curMax = penultimate;
            prevSegmentsLen += penultimate;
          }
        }
        penultimate = curMax;
        curMax = timestamp;
        const time = round2((token - timestampBegin) * precision + timeOffset + prevSegmentsLen);
        if (lastTimestamp && token >= lastTimestamp) skip = true;
        else if (skip || (previousTokens.length > 0 && token < firstTimestamp)) skip = false;
        else if (chunk.timestamp[0] === null) chunk.timestamp[0] = time;
        else if (time !== chunk.timestamp[0]) {
          chunk.timestamp[1] = time;
          previousTokens.push(currentTokens);
          chunk.text = decode(longestCommonSequence(previousTokens));
          chunks.push(chunk);
          previousTokens = [];
          currentTokens = [];
          chunk = newChunk();
        }
      } else currentTokens.push(token);
    }
    if (output.stride !== undefined) timeOffset += output.stride[0] - output.stride[2];
    if (currentTokens.length > 0) previousTokens.push(currentTokens);
    else if (!previousTokens.some((p) => p.length > 0)) {
      chunk = newChunk();
      previousTokens = [];
    }
  }
  if (previousTokens.length > 0) {
    chunk.text = decode(longestCommonSequence(previousTokens));
    chunks.push(chunk);
  }
  const text = chunks.map((c) => c.text).join('');
  if (!returnTimestamps && !returnLanguage) return { text };
  return {
    text,
    chunks: chunks.map((c) => {
      const out: Record<string, unknown> = {};
      if (returnLanguage) out.language = c.language;
      if (returnTimestamps) out.timestamp = [c.timestamp[0], c.timestamp[1]];
      out.text = c.text;
      return out as unknown as AutomaticSpeechRecognitionChunk;
    }),
  };
}

// ------------------------------------------------------------------------------ generation

interface Resolved {
  settings: GenerationSettings;
  language: string | null;
  task: string | null;
  seed: number | undefined;
  temperature: number | null;
}

function param(name: string, message: string): InvalidParameterError {
  return new InvalidParameterError(name, message);
}

function resolve(base: GenerationSettings, cfg: WhisperConfig, raw: Record<string, unknown>): Resolved {
  const params: Record<string, unknown> = {
    ...nestedParameters(raw, 'generation_parameters'),
    ...nestedParameters(raw, 'generate_kwargs'),
    ...raw,
  };
  delete params.generation_parameters;
  delete params.generate_kwargs;
  for (const key of Object.keys(params)) {
    if (!KNOWN.has(key) && params[key] !== undefined) {
      throw param(key, `\`${key}\` is not an automatic-speech-recognition parameter for Whisper models`);
    }
  }
  const s: GenerationSettings = { ...base };
  const maxNew = integer(params, 'max_new_tokens');
  if (maxNew !== undefined) {
    if (maxNew < 1) throw param('max_new_tokens', `\`max_new_tokens\` must be >= 1 (got ${maxNew})`);
    s.max_new_tokens = maxNew;
  } else if (has(params, 'max_new_tokens') && params.max_new_tokens === null) s.max_new_tokens = null;
  const maxLength = integer(params, 'max_length');
  if (maxLength !== undefined) {
    if (maxLength < 1) throw param('max_length', `\`max_length\` must be >= 1 (got ${maxLength})`);
    s.max_length = maxLength;
  }
  const beams = integer(params, 'num_beams');
  if (beams !== undefined) {
    if (beams < 1) throw param('num_beams', `\`num_beams\` must be >= 1 (got ${beams})`);
    s.num_beams = beams;
  }
  const lp = params.length_penalty;
  if (lp !== undefined && lp !== null) {
    if (typeof lp !== 'number' || !Number.isFinite(lp))
      throw param('length_penalty', '`length_penalty` must be a number');
    s.length_penalty = lp;
  }
  const es = params.early_stopping;
  if (es !== undefined && es !== null) {
    if (es !== true && es !== false && es !== 'never') {
      throw param('early_stopping', '`early_stopping` must be true, false or "never"');
    }
    s.early_stopping = es;
  }
  const rp = params.repetition_penalty;
  if (rp !== undefined && rp !== null) {
    if (typeof rp !== 'number' || !(rp > 0))
      throw param('repetition_penalty', '`repetition_penalty` must be > 0');
    s.repetition_penalty = rp;
  }
  const nr = integer(params, 'no_repeat_ngram_size');
  if (nr !== undefined) {
    if (nr < 0) throw param('no_repeat_ngram_size', '`no_repeat_ngram_size` must be >= 0');
    s.no_repeat_ngram_size = nr;
  }
  const mn = integer(params, 'min_new_tokens');
  if (mn !== undefined) s.min_new_tokens = Math.max(0, mn);
  const tk = integer(params, 'top_k');
  if (tk !== undefined) s.top_k = Math.max(0, tk);
  const tp = params.top_p;
  if (tp !== undefined && tp !== null) {
    if (typeof tp !== 'number' || !(tp > 0 && tp <= 1)) throw param('top_p', '`top_p` must be in (0, 1]');
    s.top_p = tp;
  }
  bool(params, 'do_sample');
  bool(params, 'ignore_warning');
  let temperature: number | null = null;
  const t = params.temperature;
  if (t !== undefined && t !== null) {
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
      throw param('temperature', `\`temperature\` must be a number >= 0 (got ${describeValue(t)})`);
    }
    temperature = t;
  }
  const seed = integer(params, 'seed');
  if (seed !== undefined && (seed < 0 || seed > Number.MAX_SAFE_INTEGER)) {
    throw param('seed', `\`seed\` must be an integer between 0 and ${Number.MAX_SAFE_INTEGER} (got ${seed})`);
  }
  const text = (name: string): string | null => {
    const v = params[name];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || v.length === 0) throw param(name, `\`${name}\` must be a non-empty string`);
    return v;
  };
  const language = text('language');
  const task = text('task');
  const multilingual = bool(params, 'is_multilingual');
  const isMultilingual = multilingual ?? cfg.isMultilingual;
  if (isMultilingual === false && (task !== null || language !== null)) {
    throw invalidInput(
      'Cannot specify `task` or `language` for an English-only model. If the model is intended to be multilingual, pass `is_multilingual=True` to generate, or update the generation config.',
    );
  }
  if (language !== null && cfg.langToId === null) {
    throw invalidInput(
      'The generation config is outdated and is thus not compatible with the `language` argument to `generate`. Please update the generation config as per the instructions https://github.com/huggingface/transformers/issues/25084#issuecomment-1664398224',
    );
  }
  if (task !== null && cfg.taskToId === null) {
    throw invalidInput(
      'The generation config is outdated and is thus not compatible with the `task` argument to `generate`. Please update the generation config as per the instructions https://github.com/huggingface/transformers/issues/25084#issuecomment-1664398224',
    );
  }
  return { settings: s, language, task, seed, temperature };
}

function generatorOf(ctx: Parameters<AsrBackend>[0]): Pick<Generator, 'generate' | 'layout'> {
  const runner = ctx.model.runner;
  if (isGenerator(runner) && isSeq2Seq(runner.layout)) return runner;
  throw new HfTasksError(
    'ERR_MODEL_LOAD',
    `model ${ctx.model.id} is not loaded as an encoder-decoder (Whisper needs encoder_model.onnx and decoder_model_merged.onnx)`,
  );
}

/** The Whisper backend. */
const whisperBackend: AsrBackend = (ctx, fe: FeatureExtractorConfig) => {
  const { model } = ctx;
  const generator = generatorOf(ctx);
  const tok = model.tokenizer;
  const fileConfig = modelGenerationConfig(model.dir, model.config);
  const base = pipelineSettings(
    fileConfig,
    model.config,
    'automatic-speech-recognition',
    ASR_GENERATION_DEFAULTS,
  );
  const raw = model.config.raw;
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isInteger(v) ? v : fallback);
  const cfg: WhisperConfig = {
    decoderStart: num(fileConfig.decoder_start_token_id ?? raw.decoder_start_token_id, -1),
    langToId: idMap(fileConfig.lang_to_id),
    taskToId: idMap(fileConfig.task_to_id),
    isMultilingual: typeof fileConfig.is_multilingual === 'boolean' ? fileConfig.is_multilingual : null,
    noTimestamps:
      typeof fileConfig.no_timestamps_token_id === 'number' ? fileConfig.no_timestamps_token_id : null,
    maxInitialTimestamp:
      typeof fileConfig.max_initial_timestamp_index === 'number' &&
      Number.isInteger(fileConfig.max_initial_timestamp_index) &&
      fileConfig.max_initial_timestamp_index >= 0
        ? fileConfig.max_initial_timestamp_index
        : null,
    forcedDecoderIds: forcedIds(fileConfig.forced_decoder_ids ?? raw.forced_decoder_ids),
    maxTargetPositions: num(raw.max_target_positions, 448),
    vocabSize: num(raw.vocab_size, 51865),
  };
  if (cfg.decoderStart < 0) {
    throw new HfTasksError('ERR_MODEL_CONFIG', `model ${model.id} has no decoder_start_token_id`);
  }
  const maxSourcePositions = num(raw.max_source_positions, 1500);
  const timePrecision = fe.chunkLength / maxSourcePositions;
  const maxNewTokensLimit = ctx.options.generation?.maxNewTokensLimit ?? 4096;

  type Features = { data: Float32Array; dims: number[] };
  /** Log-mel features: padded to 30 s, or of the whole input for long-form audio. */
  const encoderFeatures = async (samples: Float32Array, longForm = false): Promise<Features> => {
    const feeds = await audioFeeds(
      fe,
      samples,
      ['input_features'],
      longForm ? { padding: 'longest', truncation: false } : undefined,
    );
    const f = feeds.input_features;
    if (f === undefined || !(f.data instanceof Float32Array)) {
      throw new HfTasksError('ERR_INTERNAL', 'Whisper features were not computed');
    }
    return { data: f.data, dims: [...f.dims] };
  };

  /** The reference's `detect_language`: the first decoder step restricted to language tokens. */
  const detectLanguage = async (features: Features): Promise<number> => {
    const langIds = new Set(cfg.langToId?.values() ?? []);
    const suppress: number[] = [];
    for (let id = 0; id < cfg.vocabSize; id++) if (!langIds.has(id)) suppress.push(id);
    const req: GenerationRequest = {
      promptIds: [cfg.decoderStart],
      encoderFeatures: features,
      decoding: { suppressTokens: suppress },
      rows: 1,
      maxNewTokens: 1,
      eosTokenIds: [],
      padTokenId: 0,
      stream: false,
    };
    const out = await generator.generate(req, {});
    const id = out.sequences[0]?.ids[0];
    if (id === undefined) throw new HfTasksError('ERR_INTERNAL', 'language detection produced no token');
    return id;
  };

  /** The decoder prompt (`_retrieve_init_tokens`) for one window. */
  const initTokens = async (r: Resolved, features: Features, timestamps: boolean): Promise<number[]> => {
    const init: Array<number | null> = [cfg.decoderStart];
    if (r.task === null && r.language === null && cfg.forcedDecoderIds !== null) {
      let forced = cfg.forcedDecoderIds;
      if (forced[0]?.[0] === 1) {
        let i = 1;
        while (forced.length > 0 && forced[0]?.[0] === i) {
          init.push(forced[0][1]);
          forced = forced.slice(1);
          i++;
        }
        if (forced.length > 0) {
          throw invalidInput(
            `You are using token ids in \`forced_decoder_ids\` that do not seem to correctly follow the prompt pattern of Whisper. Make sure that ${JSON.stringify(forced)} has an entry for all indices >= 1 and < ${forced[0]?.[0]}.`,
          );
        }
      }
    }
    const langUndefined = init.length <= 1 || init[1] === null;
    let langId: number | null = null;
    if (r.language !== null) langId = languageId(cfg, r.language);
    else if (cfg.langToId !== null && langUndefined) langId = await detectLanguage(features);
    if (langId !== null) {
      if (init.length > 1) init[1] = langId;
      else init.push(langId);
    }
    if (r.task !== null) {
      if (!TASK_IDS.includes(r.task)) {
        throw invalidInput(
          `The \`${r.task}\` task is not supported. The task should be one of \`${pyList(TASK_IDS)}\``,
        );
      }
      const taskId = cfg.taskToId?.get(r.task);
      if (taskId !== undefined) init.push(taskId);
    } else if (r.language !== null && cfg.taskToId !== null) {
      const taskIds = [...cfg.taskToId.values()];
      const transcribe = cfg.taskToId.get('transcribe');
      if (!init.some((t) => t !== null && taskIds.includes(t)) && transcribe !== undefined)
        init.push(transcribe);
    }
    const last = init[init.length - 1];
    if (!timestamps && cfg.noTimestamps !== null && last !== cfg.noTimestamps) init.push(cfg.noTimestamps);
    else if (timestamps && cfg.noTimestamps !== null && last === cfg.noTimestamps) init.pop();
    return init.filter((t): t is number => t !== null);
  };

  const requestFor = (r: Resolved, prompt: number[], features: Features, timestamps: boolean) => {
    const s = r.settings;
    const mtp = cfg.maxTargetPositions;
    let maxLength: number;
    if (s.max_new_tokens !== null) {
      if (s.max_new_tokens + prompt.length > mtp) {
        throw invalidInput(
          `The length of \`decoder_input_ids\`, including special start tokens, prompt tokens, and previous tokens, is ${prompt.length},  and \`max_new_tokens\` is ${s.max_new_tokens}. Thus, the combined length of \`decoder_input_ids\` and \`max_new_tokens\` is: ${s.max_new_tokens + prompt.length}. This exceeds the \`max_target_positions\` of the Whisper model: ${mtp}. You should either reduce the length of your prompt, or reduce the value of \`max_new_tokens\`, so that their combined length is less than ${mtp}.`,
        );
      }
      maxLength = prompt.length + s.max_new_tokens;
    } else {
      const initial = Math.min(Math.floor(mtp / 2) - 1, prompt.length - 1);
      maxLength = Math.min(s.max_length + initial, mtp);
    }
    let maxNew = maxLength - prompt.length;
    if (maxNew < 1) {
      throw new InvalidParameterError(
        'max_length',
        `Input length of decoder_input_ids is ${prompt.length}, but \`max_length\` is set to ${maxLength}. This can lead to unexpected behavior. You should consider increasing \`max_length\` or, better yet, setting \`max_new_tokens\`.`,
      );
    }
    maxNew = Math.min(maxNew, maxNewTokensLimit);
    const eos = eosList(s.eos_token_id ?? tok.specialTokens.eos_token_id);
    const decoding: DecodingConfig = {
      eosTokenIds: eos,
      maxLength: prompt.length + maxNew,
      beginIndex: prompt.length,
    };
    if (s.repetition_penalty !== 1) decoding.repetitionPenalty = s.repetition_penalty;
    if (s.no_repeat_ngram_size > 0) decoding.noRepeatNgramSize = s.no_repeat_ngram_size;
    if (s.bad_words_ids !== null) decoding.badWordsIds = s.bad_words_ids;
    if (s.min_length > 0) decoding.minLength = s.min_length;
    if (s.min_new_tokens !== null && s.min_new_tokens > 0) decoding.minNewTokens = s.min_new_tokens;
    if (s.forced_bos_token_id !== null) decoding.forcedBosTokenId = s.forced_bos_token_id;
    if (s.forced_eos_token_id !== null) decoding.forcedEosTokenIds = eosList(s.forced_eos_token_id);
    if (s.suppress_tokens !== null) decoding.suppressTokens = s.suppress_tokens;
    if (s.begin_suppress_tokens !== null) decoding.beginSuppressTokens = s.begin_suppress_tokens;
    if (timestamps) {
      if (cfg.noTimestamps === null) {
        throw invalidInput(
          'You are trying to return timestamps, but the generation config is not properly set. Make sure to initialize the generation config with the correct attributes that are needed such as `no_timestamps_token_id`. For more details on how to generate the approtiate config, refer to https://github.com/huggingface/transformers/issues/21878#issuecomment-1451902363',
        );
      }
      const stampEos = eosList(s.eos_token_id ?? s.bos_token_id)[0];
      decoding.whisperTimestamps = {
        noTimestampsTokenId: cfg.noTimestamps,
        eosTokenId: stampEos ?? 0,
        ...(cfg.maxInitialTimestamp !== null ? { maxInitialTimestampIndex: cfg.maxInitialTimestamp } : {}),
      };
    }
    // Whisper samples only when a temperature > 0 is given (then without beams).
    const sample = r.temperature !== null && r.temperature > 0;
    if (sample) {
      decoding.doSample = true;
      decoding.temperature = r.temperature as number;
      decoding.topK = s.top_k;
      decoding.topP = s.top_p;
      decoding.typicalP = s.typical_p;
      if (s.min_p !== null) decoding.minP = s.min_p;
    }
    const req: GenerationRequest = {
      promptIds: prompt,
      encoderFeatures: features,
      decoding,
      rows: 1,
      maxNewTokens: maxNew,
      eosTokenIds: eos,
      padTokenId: s.pad_token_id ?? eos[0] ?? 0,
      stream: false,
    };
    if (r.seed !== undefined) req.seed = r.seed;
    if (!sample && s.num_beams > 1) {
      req.beam = {
        numBeams: s.num_beams,
        lengthPenalty: s.length_penalty,
        earlyStopping: s.early_stopping,
        numReturnSequences: 1,
      };
    }
    return req;
  };

  /**
   * The reference's segment loop over `features` (30 s padded, or the whole long-form input):
   * generate from `seek` on the next 30 s, split the tokens at consecutive timestamp tokens
   * (`_retrieve_segment`), move `seek` past the last complete segment and generate again until
   * the frames are consumed. The returned tokens are the segments' tokens, concatenated.
   */
  const transcribe = async (r: Resolved, features: Features, timestamps: boolean): Promise<number[]> => {
    const [, bins = 0, maxFrames = 0] = features.dims;
    const segmentFrames = INPUT_STRIDE * maxSourcePositions;
    const window = (seek: number): Features => {
      const n = Math.min(maxFrames - seek, segmentFrames);
      if (seek === 0 && n === maxFrames && maxFrames === segmentFrames) return features;
      const data = new Float32Array(bins * segmentFrames);
      for (let b = 0; b < bins; b++) {
        data.set(features.data.subarray(b * maxFrames + seek, b * maxFrames + seek + n), b * segmentFrames);
      }
      return { data, dims: [1, bins, segmentFrames] };
    };
    // Language detection looks at the first 30 s (`input_features[:, :, :num_segment_frames]`).
    const first = maxFrames > segmentFrames ? window(0) : features;
    const prompt = await initTokens(r, first, timestamps);
    const eos = r.settings.eos_token_id;
    const eosId = Array.isArray(eos) ? eos[0] : eos;
    const pad = r.settings.pad_token_id;
    const tb = cfg.noTimestamps === null ? cfg.vocabSize + 1 : cfg.noTimestamps + 1;
    const out: number[] = [];
    let seek = 0;
    let stalled = 0;
    while (seek < maxFrames) {
      const n = Math.min(maxFrames - seek, segmentFrames);
      const input = window(seek);
      const res = await generator.generate(requestFor(r, prompt, input, timestamps), {});
      let seq = [...(res.sequences[0]?.ids ?? [])];
      if (seq.length > 0 && pad !== null && seq[seq.length - 1] === pad) {
        let paddings = seq.filter((t) => t === pad).length;
        if (pad === eosId) paddings -= 1;
        if (paddings !== 0) seq = seq.slice(0, seq.length - paddings);
      }
      if (seq.length > 0 && seq[seq.length - 1] === eosId) seq = seq.slice(0, -1);
      const isTs = seq.map((t) => t >= tb);
      const singleEnding = isTs.length >= 2 && !isTs[isTs.length - 2] && isTs[isTs.length - 1] === true;
      const slices: number[] = [];
      for (let i = 0; i + 1 < isTs.length; i++) if (isTs[i] && isTs[i + 1]) slices.push(i + 1);
      let advance = n;
      if (slices.length > 0) {
        if (singleEnding) slices.push(seq.length);
        else slices[slices.length - 1] = (slices[slices.length - 1] as number) + 1;
        let last = 0;
        for (const cut of slices) {
          for (const t of seq.slice(last, cut)) out.push(t);
          last = cut;
        }
        if (!singleEnding) advance = ((seq[last - 2] as number) - tb) * INPUT_STRIDE;
      } else {
        for (const t of seq) out.push(t);
      }
      seek += advance;
      stalled = advance > 0 ? 0 : stalled + 1;
      if (stalled >= MAX_STALLED_ROUNDS) {
        throw invalidInput(
          `the model keeps predicting segments that end where they start, at ${((seek * fe.hopLength) / fe.samplingRate).toFixed(2)} s, so the transcription cannot move through the audio`,
        );
      }
    }
    return out;
  };

  return async ({ audio, parameters }: { audio: { samples: Float32Array }; parameters: AsrParameters }) => {
    // A generation config asking for timestamps asks for them on every call (the reference ORs it in).
    const ts = parameters.returnTimestamps || fileConfig.return_timestamps === true;
    if (ts === 'char') {
      throw invalidInput(
        "Whisper cannot return `char` timestamps, only word level or segment level timestamps. Use `return_timestamps='word'` or `return_timestamps=True` respectively.",
      );
    }
    if (ts === 'word') {
      throw new InvalidParameterError(
        'return_timestamps',
        'word-level timestamps (`return_timestamps: "word"`) need the decoder\'s cross-attention weights, which exported ONNX Whisper decoders do not output; use `return_timestamps: true` for segment timestamps',
      );
    }
    const returnTimestamps = ts === true;
    const r = resolve(base, cfg, parameters.raw);
    const returnLanguage = bool(parameters.raw, 'return_language') === true;
    const samples = audio.samples;
    const options = { returnTimestamps, returnLanguage, timePrecision };
    if (parameters.chunkLengthS > 0) {
      const rate = fe.samplingRate;
      const windows = chunkWindows(samples, ...windowSizes(parameters, rate, 1));
      const outputs: AsrOutput[] = [];
      for (const w of windows) {
        const tokens = await transcribe(r, await encoderFeatures(w.samples), returnTimestamps);
        const [n, left, right] = w.stride;
        outputs.push({ tokens, stride: [n / rate, left / rate, right / rate] });
      }
      return decodeAsr(tok, outputs, options);
    }
    const longForm = samples.length > fe.nSamples;
    const features = await encoderFeatures(samples, longForm);
    // Past 30 s of frames the reference always generates timestamps (its long-form mode).
    const shortForm = (features.dims[2] ?? 0) <= INPUT_STRIDE * maxSourcePositions;
    // ... unless the model's generation config turns timestamps off outright (as published
    // Whisper configs do): the reference then refuses long-form input without them.
    if (!shortForm && !returnTimestamps && fileConfig.return_timestamps === false) {
      throw invalidInput(
        `You have passed more than ${INPUT_STRIDE * maxSourcePositions} mel input features (> ${fe.chunkLength} seconds) which automatically enables long-form generation which requires the model to predict timestamp tokens. Please either pass \`return_timestamps=True\` or make sure to pass no more than ${INPUT_STRIDE * maxSourcePositions} mel input features.`,
      );
    }
    const tokens = await transcribe(r, features, returnTimestamps || !shortForm);
    return decodeAsr(tok, [{ tokens }], options);
  };
};

registerAsrBackend('seq2seq_whisper', whisperBackend);

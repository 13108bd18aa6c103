/**
 * Encoder-decoder generation: `text2text-generation` (`generated_text`), `summarization`
 * (`summary_text`) and `translation` (`translation_text`), task contract section 8. The input is
 * prefixed (config `prefix`, or `task_specific_params[task].prefix` such as T5's "summarize: "),
 * tokenized (language codes for multilingual tokenizers), encoded once, and decoded step by step
 * on the generation engine: beam search by default (the pipeline's `num_beams=4,
 * max_new_tokens=256` unless the model's generation config says otherwise), greedy or sampling.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HfTasksError, InvalidParameterError } from '../errors.js';
import {
  eosList,
  type GenerationSettings,
  modelGenerationConfig,
  pipelineSettings,
} from '../generation/config.js';
import { type GenerateCallOptions, type Generator, isGenerator } from '../generation/engine.js';
import type { GenerationRequest, TokenEvent } from '../generation/loop.js';
import { isSeq2Seq } from '../generation/seq2seq.js';
import type { LoadedModel } from '../runtime/model.js';
import type { Tokenizer, TruncationStrategy } from '../tokenizer.js';
import type { TextGenerationStreamEvent } from '../types/text-generation.js';
import { maxModelTokens } from './encode.js';
import { checkText, describeValue, has, invalidInput, parametersObject } from './params.js';
import type { CallOptions, TaskContext, TaskDefinition, TaskRun } from './task.js';
import {
  applyDecodingParameters,
  bool,
  DECODING_KEYS,
  decodingConfig,
  integer,
  isSpecialToken,
  validate,
} from './text-generation.js';

/** The pipeline's own defaults (transformers 4.57 `Text2TextGenerationPipeline`). */
const SEQ2SEQ_DEFAULTS: Partial<GenerationSettings> = { max_new_tokens: 256, num_beams: 4 };

const DEFAULT_MAX_NEW_TOKENS_LIMIT = 4096;

/** Which task, and the output key it writes. */
export type Seq2SeqTask = 'text2text-generation' | 'summarization' | 'translation';

const OUTPUT_KEY: Record<Seq2SeqTask, string> = {
  'text2text-generation': 'generated_text',
  summarization: 'summary_text',
  translation: 'translation_text',
};

/** How a multilingual tokenizer marks the source language and forces the target's first token. */
interface LanguageCodes {
  kind: 'mbart' | 'mbart50' | 'nllb' | 'nllb-legacy' | 'm2m100';
  /** A language name as the tokenizer spells its token (M2M100: `en` -> `__en__`). */
  token(lang: string): string;
}

function readTokenizerConfig(dir: string): Record<string, unknown> {
  const file = path.join(dir, 'tokenizer_config.json');
  if (!existsSync(file)) return {};
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The tokenizer classes whose pipelines build translation inputs with language codes. */
function languageCodes(tokenizerConfig: Record<string, unknown>): LanguageCodes | null {
  const cls = String(tokenizerConfig.tokenizer_class ?? '').replace(/Fast$/, '');
  const same = (lang: string) => lang;
  switch (cls) {
    case 'MBartTokenizer':
      return { kind: 'mbart', token: same };
    case 'MBart50Tokenizer':
      return { kind: 'mbart50', token: same };
    case 'NllbTokenizer':
      return { kind: tokenizerConfig.legacy_behaviour === true ? 'nllb-legacy' : 'nllb', token: same };
    case 'M2M100Tokenizer':
      return { kind: 'm2m100', token: (lang) => `__${lang}__` };
    default:
      return null;
  }
}

/** What a loaded encoder-decoder model gives every call. */
interface Seq2SeqContext {
  task: Seq2SeqTask;
  model: LoadedModel;
  generator: Pick<Generator, 'generate' | 'layout'>;
  settings: GenerationSettings;
  prefix: string;
  /** From a `translation_xx_to_yy` task name. */
  taskLangs: { src: string; tgt: string } | null;
  languages: LanguageCodes | null;
  maxNewTokensLimit: number;
}

function generatorOf(model: LoadedModel): Pick<Generator, 'generate' | 'layout'> {
  if (isGenerator(model.runner) && isSeq2Seq(model.runner.layout)) return model.runner;
  throw new HfTasksError(
    'ERR_MODEL_LOAD',
    `model ${model.id} is not loaded as an encoder-decoder (it needs encoder_model.onnx and decoder_model_merged.onnx, or decoder_model.onnx with decoder_with_past_model.onnx)`,
  );
}

/**
 * The task_specific_params key a pipeline for `task` reads: the task itself, or for the bare
 * `translation` the first `translation_*` key of the model's config (T5: en -> de).
 */
export function taskKey(model: LoadedModel, task: string): string {
  const tsp = model.config.taskSpecificParams;
  if (task === 'translation' && tsp !== null) {
    const first = Object.keys(tsp).find((k) => k.startsWith('translation'));
    if (first !== undefined) return first;
  }
  return task;
}

function contextFor(ctx: TaskContext, task: Seq2SeqTask): Seq2SeqContext {
  const { model } = ctx;
  const key = taskKey(model, ctx.requestedTask ?? task);
  const settings = pipelineSettings(
    modelGenerationConfig(model.dir, model.config),
    model.config,
    key,
    SEQ2SEQ_DEFAULTS,
  );
  settings.pad_token_id ??= model.tokenizer.specialTokens.pad_token_id;
  const raw = model.config.raw;
  let prefix = typeof raw.prefix === 'string' ? raw.prefix : '';
  const tsp = model.config.taskSpecificParams?.[key] as Record<string, unknown> | undefined;
  if (typeof tsp === 'object' && tsp !== null && typeof tsp.prefix === 'string') prefix = tsp.prefix;
  const parts = key.split('_');
  const taskLangs =
    task === 'translation' && parts.length === 4
      ? { src: parts[1] as string, tgt: parts[3] as string }
      : null;
  const limit = ctx.options.generation?.maxNewTokensLimit ?? DEFAULT_MAX_NEW_TOKENS_LIMIT;
  return {
    task,
    model,
    generator: generatorOf(model),
    settings,
    prefix,
    taskLangs,
    languages: task === 'translation' ? languageCodes(readTokenizerConfig(model.dir)) : null,
    maxNewTokensLimit: limit,
  };
}

// ------------------------------------------------------------------------------ parameters

const KNOWN = new Set([
  'truncation',
  'clean_up_tokenization_spaces',
  'src_lang',
  'tgt_lang',
  'generate_parameters',
  'return_text',
  'return_tensors',
  ...DECODING_KEYS,
  'num_return_sequences',
  'forced_bos_token_id',
  'forced_eos_token_id',
  'decoder_start_token_id',
  'bad_words_ids',
]);

/** A call's parameters, checked and merged over the model's settings. */
interface Resolved {
  settings: GenerationSettings;
  truncation: TruncationStrategy | null;
  cleanUp: boolean;
  srcLang: string | undefined;
  tgtLang: string | undefined;
  seed: number | undefined;
  /** The call names `forced_bos_token_id` (null included). */
  forcedBosGiven: boolean;
}

function param(name: string, message: string): InvalidParameterError {
  return new InvalidParameterError(name, message);
}

function optionalId(params: Record<string, unknown>, name: string): number | null | undefined {
  if (!has(params, name)) return undefined;
  if (params[name] === null) return null;
  const v = integer(params, name);
  if (v !== undefined && v < 0) throw param(name, `\`${name}\` must be a token id >= 0 (got ${v})`);
  return v;
}

function langParam(params: Record<string, unknown>, name: string): string | undefined {
  if (!has(params, name) || params[name] === null) return undefined;
  const v = params[name];
  if (typeof v !== 'string' || v.length === 0)
    throw param(name, `\`${name}\` must be a non-empty string (got ${describeValue(v)})`);
  return v;
}

function resolve(sc: Seq2SeqContext, parameters: unknown): Resolved {
  const top = parametersObject(parameters);
  // The Inference API spec nests the decoding options under `generate_parameters`; the legacy
  // API and the pipeline take them flat. Both are read (nested first, flat wins).
  const nested = top.generate_parameters;
  if (nested !== undefined && nested !== null && (typeof nested !== 'object' || Array.isArray(nested))) {
    throw param('generate_parameters', '`generate_parameters` must be an object');
  }
  const params: Record<string, unknown> = { ...((nested as Record<string, unknown>) ?? {}), ...top };
  delete params.generate_parameters;
  for (const key of Object.keys(params)) {
    if (!KNOWN.has(key) && params[key] !== undefined) {
      throw param(key, `\`${key}\` is not a ${sc.task} parameter`);
    }
  }
  const s: GenerationSettings = { ...sc.settings };
  applyDecodingParameters(s, params);
  const maxNew = integer(params, 'max_new_tokens');
  if (maxNew !== undefined) s.max_new_tokens = maxNew;
  // `max_new_tokens: null` drops the pipeline's default, so that `max_length` bounds the output.
  else if (has(params, 'max_new_tokens') && params.max_new_tokens === null) s.max_new_tokens = null;
  const maxLength = integer(params, 'max_length');
  if (maxLength !== undefined) s.max_length = maxLength;
  for (const name of ['forced_bos_token_id', 'decoder_start_token_id'] as const) {
    const v = optionalId(params, name);
    if (v !== undefined) s[name] = v;
  }
  if (has(params, 'forced_eos_token_id')) {
    const v = params.forced_eos_token_id;
    if (v === null) s.forced_eos_token_id = null;
    else if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0)) s.forced_eos_token_id = v;
    else s.forced_eos_token_id = optionalId(params, 'forced_eos_token_id') ?? null;
  }
  if (has(params, 'bad_words_ids') && params.bad_words_ids !== null) {
    const v = params.bad_words_ids;
    if (
      !Array.isArray(v) ||
      v.some((w) => !Array.isArray(w) || w.length === 0 || w.some((x) => !Number.isInteger(x) || x < 0))
    ) {
      throw param('bad_words_ids', '`bad_words_ids` must be a list of non-empty lists of token ids');
    }
    s.bad_words_ids = v as number[][];
  }
  const seed = integer(params, 'seed');
  if (seed !== undefined && (seed < 0 || seed > Number.MAX_SAFE_INTEGER)) {
    throw param('seed', `\`seed\` must be an integer between 0 and ${Number.MAX_SAFE_INTEGER} (got ${seed})`);
  }
  if (bool(params, 'return_tensors') === true)
    throw param('return_tensors', '`return_tensors` is not supported');
  if (has(params, 'return_text') && params.return_text !== true && params.return_text !== null)
    throw param('return_text', '`return_text` must be true');
  let truncation: TruncationStrategy | null = null;
  if (has(params, 'truncation') && params.truncation !== null) {
    const t = params.truncation;
    if (t === true) truncation = 'longest_first';
    else if (t === false || t === 'do_not_truncate') truncation = null;
    else if (t === 'longest_first' || t === 'only_first' || t === 'only_second') truncation = t;
    else {
      throw param(
        'truncation',
        `\`truncation\` must be a boolean or one of do_not_truncate, longest_first, only_first, only_second (got ${describeValue(t)})`,
      );
    }
  }
  validate(s, s.max_new_tokens, s.max_new_tokens === null ? s.max_length : null, sc.maxNewTokensLimit);
  return {
    settings: s,
    truncation,
    cleanUp: bool(params, 'clean_up_tokenization_spaces') ?? false,
    srcLang: langParam(params, 'src_lang'),
    tgtLang: langParam(params, 'tgt_lang'),
    seed,
    forcedBosGiven: has(params, 'forced_bos_token_id'),
  };
}

// ---------------------------------------------------------------------------------- inputs

function parseInputs(inputs: unknown): { texts: string[]; single: boolean } {
  if (typeof inputs === 'string') return { texts: [checkText('inputs', inputs)], single: true };
  if (Array.isArray(inputs)) {
    if (inputs.length === 0)
      throw invalidInput('`inputs` is an empty list; send a string or a list of strings');
    const texts = inputs.map((x, i) => {
      if (typeof x !== 'string') {
        throw invalidInput(
          ` \`args[0]\`: ${describeValue(x)} have the wrong format. The should be either of type \`str\` or type \`list\` (inputs[${i}])`,
        );
      }
      return checkText(`inputs[${i}]`, x);
    });
    return { texts, single: false };
  }
  throw invalidInput(
    ` \`args[0]\`: ${describeValue(inputs)} have the wrong format. The should be either of type \`str\` or type \`list\``,
  );
}

function tokenId(tok: Tokenizer, token: string, what: string): number {
  const id = tok.tokenToId(token);
  if (id === null) {
    throw invalidInput(
      `unknown ${what} ${JSON.stringify(token)}: the tokenizer has no such language token (the reference would use the unknown token)`,
    );
  }
  return id;
}

/** The encoder ids of one text, and the forced first token a target language asks for. */
function encodeInput(
  sc: Seq2SeqContext,
  text: string,
  r: Resolved,
): { ids: number[]; forcedBos: number | undefined } {
  const tok = sc.model.tokenizer;
  const stated = tok.modelMaxLength;
  const truncate = (ids: number[], room: number): number[] => {
    if (r.truncation === null || stated === null || r.truncation === 'only_second') return ids;
    const keep = Math.max(0, stated - room);
    if (ids.length <= keep) return ids;
    return tok.truncationSide === 'left' ? ids.slice(ids.length - keep) : ids.slice(0, keep);
  };
  const src = r.srcLang ?? (r.tgtLang === undefined ? sc.taskLangs?.src : undefined);
  const tgt = r.tgtLang ?? (r.srcLang === undefined ? sc.taskLangs?.tgt : undefined);
  const lang = sc.languages;
  let ids: number[];
  let forcedBos: number | undefined;
  if (lang !== null) {
    // The reference's tokenizer puts the target language's id in the model inputs as
    // `forced_bos_token_id`, so a caller's own value collides with it in `generate()`.
    if (r.forcedBosGiven) {
      throw new InvalidParameterError(
        'forced_bos_token_id',
        "generate() got multiple values for keyword argument 'forced_bos_token_id'",
      );
    }
    if (src === undefined || tgt === undefined) {
      throw invalidInput('Translation requires a `src_lang` and a `tgt_lang` for this model');
    }
    const srcId = tokenId(tok, lang.token(src), 'src_lang');
    forcedBos = tokenId(tok, lang.token(tgt), 'tgt_lang');
    const eos = tok.specialTokens.eos_token_id;
    if (eos === null) throw invalidInput('the tokenizer has no EOS token');
    let prefix: number[];
    let suffix: number[];
    if (lang.kind === 'mbart' || lang.kind === 'nllb-legacy') {
      prefix = [];
      suffix = [eos, srcId];
    } else {
      prefix = [srcId];
      suffix = [eos];
    }
    const body = Array.from(tok.encode(sc.prefix + text, { addSpecialTokens: false }).inputIds, Number);
    ids = [...prefix, ...truncate(body, prefix.length + suffix.length), ...suffix];
  } else {
    const enc = tok.encode(sc.prefix + text, {
      ...(r.truncation !== null && r.truncation !== 'only_second' && stated !== null
        ? { truncation: r.truncation, maxLength: stated }
        : {}),
    });
    ids = Array.from(enc.inputIds.subarray(0, enc.lengths[0] ?? enc.inputIds.length), Number);
  }
  const limit = maxModelTokens(sc.model);
  if (limit !== null && !isRelative(sc) && ids.length > limit) {
    throw invalidInput(
      `Input is too long: ${ids.length} tokens, but this model accepts at most ${limit} tokens per sequence (pass \`truncation: true\` to cut it).`,
    );
  }
  return { ids, forcedBos };
}

function isRelative(sc: Seq2SeqContext): boolean {
  const layout = sc.generator.layout;
  return isSeq2Seq(layout) && layout.seq2seq.relative;
}

/**
 * The engine request of an encoder-decoder generation from `decoder_start_token_id` (else
 * `bos_token_id`) under settings `s`, without its encoder input: new tokens up to the settings'
 * length rules, `limit` and a learned decoder position table of `context` positions.
 */
export function decoderRequest(
  s: GenerationSettings,
  tok: Tokenizer,
  limit: number,
  context: number | null,
  seed: number | undefined,
  stream: boolean,
): GenerationRequest {
  const start = s.decoder_start_token_id ?? s.bos_token_id;
  if (start === null) {
    throw new HfTasksError(
      'ERR_MODEL_CONFIG',
      '`decoder_start_token_id` or `bos_token_id` has to be defined for encoder-decoder generation.',
    );
  }
  const prompt = [start];
  let maxNew = s.max_new_tokens !== null ? s.max_new_tokens : Math.max(0, s.max_length - prompt.length);
  maxNew = Math.min(maxNew, limit);
  // A learned decoder position table ends at the context (the reference fails there).
  if (context !== null) maxNew = Math.min(maxNew, Math.max(0, context - prompt.length));
  if (maxNew < 1) {
    throw new InvalidParameterError(
      'max_length',
      `Input length of decoder_input_ids is ${prompt.length}, but \`max_length\` is set to ${s.max_length}. This can lead to unexpected behavior. You should consider increasing \`max_length\` or, better yet, setting \`max_new_tokens\`.`,
    );
  }
  const eos = eosList(s.eos_token_id ?? tok.specialTokens.eos_token_id);
  const req: GenerationRequest = {
    promptIds: prompt,
    decoding: decodingConfig(s, eos, prompt.length, maxNew),
    rows: s.num_beams > 1 ? 1 : s.num_return_sequences,
    maxNewTokens: maxNew,
    eosTokenIds: eos,
    padTokenId: s.pad_token_id ?? eos[0] ?? 0,
    stream,
  };
  if (s.max_time !== null) req.maxTime = s.max_time;
  if (seed !== undefined) req.seed = seed;
  if (s.num_beams > 1) {
    req.beam = {
      numBeams: s.num_beams,
      lengthPenalty: s.length_penalty,
      earlyStopping: s.early_stopping,
      numReturnSequences: s.num_return_sequences,
    };
  }
  return req;
}

/** The engine request for one input. */
function requestFor(
  sc: Seq2SeqContext,
  encoderIds: number[],
  forcedBos: number | undefined,
  r: Resolved,
  stream: boolean,
): GenerationRequest {
  const context = sc.generator.layout.contextLength;
  const req = decoderRequest(r.settings, sc.model.tokenizer, sc.maxNewTokensLimit, context, r.seed, stream);
  req.encoderIds = encoderIds;
  // A target language's code overrides the model's forced first token.
  if (forcedBos !== undefined) req.decoding.forcedBosTokenId = forcedBos;
  return req;
}

/** Runs one input: its returned sequences, decoded. */
async function runOne(
  sc: Seq2SeqContext,
  text: string,
  r: Resolved,
  call: CallOptions,
): Promise<Array<Record<string, string>>> {
  const { ids, forcedBos } = encodeInput(sc, text, r);
  const onEvent = call.onEvent;
  const req = requestFor(sc, ids, forcedBos, r, onEvent !== undefined);
  const tok = sc.model.tokenizer;
  const onToken =
    onEvent === undefined
      ? undefined
      : (e: TokenEvent) =>
          onEvent({
            type: 'token',
            index: e.sequence,
            token: { id: e.id, text: e.text, logprob: e.logprob, special: isSpecialToken(tok, e.id) },
          });
  const options: GenerateCallOptions = {
    ...(call.signal !== undefined && { signal: call.signal }),
    ...(onToken !== undefined && { onToken }),
  };
  const result = await sc.generator.generate(req, options);
  const key = OUTPUT_KEY[sc.task];
  return result.sequences.map((seq, index) => {
    const textOut = tok.decode([...req.promptIds, ...seq.ids], {
      skip_special_tokens: true,
      clean_up_tokenization_spaces: r.cleanUp,
    });
    onEvent?.({
      type: 'end',
      index,
      finish_reason: seq.finishReason,
      generated_tokens: seq.ids.length,
      generated_text: textOut,
    } satisfies TextGenerationStreamEvent);
    return { [key]: textOut };
  });
}

function creator(task: Seq2SeqTask): TaskDefinition {
  return {
    create(ctx: TaskContext): TaskRun {
      const sc = contextFor(ctx, task);
      return async (inputs: unknown, parameters: unknown, call: CallOptions = {}) => {
        const { texts, single } = parseInputs(inputs);
        const r = resolve(sc, parameters);
        if (!single && sc.model.tokenizer.specialTokens.pad_token_id === null) {
          throw invalidInput(
            'Please make sure that the tokenizer has a pad_token_id when using a batch input',
          );
        }
        // Every input is submitted at once: the engine batches them step by step.
        const results = await Promise.all(texts.map((t) => runOne(sc, t, r, call)));
        if (single) return results[0];
        return results.every((x) => x.length === 1) ? results.map((x) => x[0]) : results;
      };
    },
  };
}

export const text2textGeneration = creator('text2text-generation');
export const summarization = creator('summarization');
export const translation = creator('translation');

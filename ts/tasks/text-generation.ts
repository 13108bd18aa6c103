/**
 * Text generation (`text-generation`): task contract section 7. A prompt string, a list of
 * prompts, or a chat (list of {role, content} messages rendered with the model's chat
 * template); greedy, sampling or beam search on the generation engine (ts/generation), with
 * the legacy Inference API parameter names and TGI's. Output text is cut as the reference
 * cuts it: the decoded full sequence minus the decoded prompt's length (code points), then the
 * original prompt in front (`return_full_text`), or the message list plus the assistant message.
 */
import { HfTasksError, InvalidParameterError } from '../errors.js';
import { type ChatMessage, ChatTemplate } from '../generation/chat.js';
import {
  eosList,
  type GenerationSettings,
  modelGenerationConfig,
  pipelineSettings,
  TEXT_GENERATION_DEFAULTS,
} from '../generation/config.js';
import { decoderLayout } from '../generation/decoder.js';
import { type GenerateCallOptions, type Generator, isGenerator } from '../generation/engine.js';
import type { DecodingConfig } from '../generation/kernels.js';
import { checkRequest, GenerationLoop, type GenerationRequest, type TokenEvent } from '../generation/loop.js';
import type { LoadedModel } from '../runtime/model.js';
import type { Tokenizer } from '../tokenizer.js';
import type {
  GeneratedToken,
  TextGenerationDetails,
  TextGenerationOutput,
  TextGenerationOutputItem,
  TextGenerationStreamEvent,
} from '../types/text-generation.js';
import { checkText, describeValue, has, invalidInput, parametersObject } from './params.js';
import type { TaskContext, TaskDefinition } from './task.js';

/** Per-call options of a generation pipe (library options, not task parameters). */
export interface GenerationCallOptions {
  /** Cancels the call: the sequence stops at the next step and the call rejects with ERR_ABORTED. */
  signal?: AbortSignal;
  /** Called for every generated token (greedy and sampling; beam search has no per-token events). */
  onEvent?: (event: TextGenerationStreamEvent) => void;
}

/** Limits of the generation tasks (library options). */
export interface GenerationLimits {
  /** Largest `max_new_tokens` a call may ask for (default 4096); more is a 400. */
  maxNewTokensLimit?: number;
}

const DEFAULT_MAX_NEW_TOKENS_LIMIT = 4096;

/** Everything a generation call needs from the loaded model. */
export interface GenerationContext {
  model: LoadedModel;
  generator: Pick<Generator, 'generate' | 'layout'>;
  settings: GenerationSettings;
  chat: ChatTemplate | null;
  maxNewTokensLimit: number;
}

/** The generation engine of a loaded model: its own, or an inline loop over a plain runner. */
function generatorOf(model: LoadedModel): Pick<Generator, 'generate' | 'layout'> {
  if (isGenerator(model.runner)) return model.runner;
  const runner = model.runner as LoadedModel['runner'] & {
    inputMetadata?: ReadonlyArray<{
      name: string;
      isTensor?: boolean;
      type?: string;
      shape?: ReadonlyArray<number | string>;
    }>;
  };
  const inputs =
    runner.inputMetadata?.map((m) => ({
      name: m.name,
      ...(m.type !== undefined && { type: m.type }),
      ...(m.shape !== undefined && { shape: m.shape }),
    })) ?? runner.inputNames.map((name) => ({ name }));
  const layout = decoderLayout(
    inputs,
    runner.outputNames.map((name) => ({ name })),
    model.config,
  );
  const loop = new GenerationLoop(runner, layout, model.tokenizer);
  return {
    layout,
    generate(request: GenerationRequest, options: GenerateCallOptions = {}) {
      checkRequest(request, layout);
      if (options.signal?.aborted)
        return Promise.reject(new HfTasksError('ERR_ABORTED', 'the generation was cancelled'));
      const handle = loop.submit(request, options.onToken);
      options.signal?.addEventListener('abort', () => handle.cancel(), { once: true });
      return handle.result;
    },
  };
}

export function generationContext(
  ctx: TaskContext,
  task: string,
  limits: GenerationLimits = {},
): GenerationContext {
  const { model } = ctx;
  const settings = pipelineSettings(
    modelGenerationConfig(model.dir, model.config),
    model.config,
    task,
    TEXT_GENERATION_DEFAULTS,
  );
  const limit = limits.maxNewTokensLimit ?? DEFAULT_MAX_NEW_TOKENS_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `maxNewTokensLimit must be an integer >= 1 (got ${String(limit)})`,
    );
  }
  return {
    model,
    generator: generatorOf(model),
    settings,
    chat: ChatTemplate.fromModelDir(model.dir, model.tokenizer),
    maxNewTokensLimit: limit,
  };
}

// ------------------------------------------------------------------------------ parameters

function param(name: string, message: string): InvalidParameterError {
  return new InvalidParameterError(name, message);
}

function number(params: Record<string, unknown>, name: string): number | undefined {
  if (!has(params, name) || params[name] === null) return undefined;
  const v = params[name];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw param(name, `\`${name}\` must be a number (got ${describeValue(v)})`);
  }
  return v;
}

export function integer(params: Record<string, unknown>, name: string): number | undefined {
  const v = number(params, name);
  if (v !== undefined && !Number.isInteger(v)) throw param(name, `\`${name}\` must be an integer (got ${v})`);
  return v;
}

export function bool(params: Record<string, unknown>, name: string): boolean | undefined {
  if (!has(params, name) || params[name] === null) return undefined;
  const v = params[name];
  if (typeof v !== 'boolean') throw param(name, `\`${name}\` must be a boolean (got ${describeValue(v)})`);
  return v;
}

function strings(params: Record<string, unknown>, name: string): string[] | undefined {
  if (!has(params, name) || params[name] === null) return undefined;
  const v = params[name];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
    throw param(name, `\`${name}\` must be a list of strings (got ${describeValue(v)})`);
  }
  return (list as string[]).map((s, i) => checkText(`${name}[${i}]`, s));
}

/** The generation parameters every generating task reads (generate's names, flat). */
export const DECODING_KEYS: readonly string[] = [
  'max_new_tokens',
  'max_length',
  'min_length',
  'min_new_tokens',
  'do_sample',
  'temperature',
  'top_k',
  'top_p',
  'typical_p',
  'repetition_penalty',
  'no_repeat_ngram_size',
  'num_beams',
  'length_penalty',
  'early_stopping',
  'max_time',
  'seed',
];

const KNOWN = new Set([
  ...DECODING_KEYS,
  'return_full_text',
  'num_return_sequences',
  'max_tokens',
  'stop',
  'stop_sequences',
  'stop_sequence',
  'details',
  'continue_final_message',
  'return_text',
  'return_tensors',
  'clean_up_tokenization_spaces',
  'decoder_input_details',
  'top_n_tokens',
  'watermark',
  'truncate',
  'best_of',
  'handle_long_generation',
]);

/**
 * Sets the decoding parameters a call sends (generate's names) on `s`, each checked for its
 * type; the ones it leaves out keep their value.
 */
export function applyDecodingParameters(s: GenerationSettings, params: Record<string, unknown>): void {
  const set = <K extends keyof GenerationSettings>(key: K, v: GenerationSettings[K] | undefined) => {
    if (v !== undefined) s[key] = v;
  };
  set('do_sample', bool(params, 'do_sample'));
  set('temperature', number(params, 'temperature'));
  set('top_k', integer(params, 'top_k'));
  set('top_p', number(params, 'top_p'));
  set('typical_p', number(params, 'typical_p'));
  set('repetition_penalty', number(params, 'repetition_penalty'));
  set('no_repeat_ngram_size', integer(params, 'no_repeat_ngram_size'));
  set('num_beams', integer(params, 'num_beams'));
  set('length_penalty', number(params, 'length_penalty'));
  set('num_return_sequences', integer(params, 'num_return_sequences'));
  set('min_length', integer(params, 'min_length'));
  set('min_new_tokens', integer(params, 'min_new_tokens'));
  set('max_time', number(params, 'max_time'));
  if (has(params, 'early_stopping') && params.early_stopping !== null) {
    const v = params.early_stopping;
    if (typeof v !== 'boolean' && v !== 'never') {
      throw param(
        'early_stopping',
        `\`early_stopping\` must be true, false or "never" (got ${describeValue(v)})`,
      );
    }
    s.early_stopping = v;
  }
}

/** A call's parameters, validated and merged over the model's settings. */
export interface ResolvedParameters {
  settings: GenerationSettings;
  /** Explicit `max_new_tokens` (or TGI's `max_tokens`) of the call, if any. */
  maxNewTokens: number | null;
  /** Legacy total length when the call sends `max_length` without `max_new_tokens`. */
  maxLength: number | null;
  returnFullText: boolean;
  details: boolean;
  seed: number | undefined;
  stop: string[];
  stopSequence: string | undefined;
  continueFinalMessage: boolean | undefined;
  cleanUp: boolean;
  /** TGI `truncate`: keep only the last N prompt tokens. */
  truncate: number | null;
  /** The pipeline's `handle_long_generation: "hole"`: cut the prompt's start to leave room. */
  hole: boolean;
}

export function resolveParameters(gc: GenerationContext, parameters: unknown): ResolvedParameters {
  const params = parametersObject(parameters);
  for (const key of Object.keys(params)) {
    if (!KNOWN.has(key) && params[key] !== undefined) {
      throw param(key, `\`${key}\` is not a text-generation parameter`);
    }
  }
  const s: GenerationSettings = { ...gc.settings };
  applyDecodingParameters(s, params);
  if (bool(params, 'return_tensors') === true) {
    throw param(
      'return_tensors',
      '`return_tensors` is not supported; ask for `details` to get the token ids',
    );
  }
  const maxNewTokens = integer(params, 'max_new_tokens') ?? integer(params, 'max_tokens') ?? null;
  const maxLength = maxNewTokens === null ? (integer(params, 'max_length') ?? null) : null;
  if (has(params, 'max_length') && maxNewTokens !== null) integer(params, 'max_length');
  const seed = integer(params, 'seed');
  if (seed !== undefined && (seed < 0 || seed > Number.MAX_SAFE_INTEGER)) {
    throw param('seed', `\`seed\` must be an integer between 0 and ${Number.MAX_SAFE_INTEGER} (got ${seed})`);
  }
  const stop = [...(strings(params, 'stop') ?? []), ...(strings(params, 'stop_sequences') ?? [])];
  let stopSequence: string | undefined;
  if (has(params, 'stop_sequence') && params.stop_sequence !== null) {
    const v = params.stop_sequence;
    if (typeof v !== 'string')
      throw param('stop_sequence', `\`stop_sequence\` must be a string (got ${describeValue(v)})`);
    stopSequence = checkText('stop_sequence', v);
  }
  const cleanUp = bool(params, 'clean_up_tokenization_spaces') ?? true;
  // TGI options this library does not implement: a request for them is a 400, not a no-op.
  const unsupported: Array<[string, (v: unknown) => boolean]> = [
    ['best_of', (v) => v !== 1],
    ['watermark', (v) => v !== false],
    ['decoder_input_details', (v) => v !== false],
    ['top_n_tokens', (v) => v !== 0],
    ['return_text', (v) => v !== true],
  ];
  for (const [name, bad] of unsupported) {
    if (has(params, name) && params[name] !== null && bad(params[name])) {
      throw param(name, `\`${name}\` is not supported (got ${describeValue(params[name])})`);
    }
  }
  const hlg = params.handle_long_generation;
  if (hlg !== undefined && hlg !== null && hlg !== 'hole') {
    throw param(
      'handle_long_generation',
      `\`handle_long_generation\` must be "hole" or null (got ${describeValue(hlg)})`,
    );
  }
  const hole = hlg === 'hole';
  const truncate = integer(params, 'truncate') ?? null;
  if (truncate !== null && truncate < 1)
    throw param('truncate', `\`truncate\` must be >= 1 (got ${truncate})`);
  validate(s, maxNewTokens, maxLength, gc.maxNewTokensLimit);
  return {
    settings: s,
    maxNewTokens,
    maxLength,
    returnFullText: bool(params, 'return_full_text') ?? true,
    details: bool(params, 'details') ?? false,
    seed,
    stop,
    stopSequence,
    continueFinalMessage: bool(params, 'continue_final_message'),
    cleanUp,
    truncate,
    hole,
  };
}

/** The reference's checks (its messages where it has one) plus the library's limits. */
export function validate(
  s: GenerationSettings,
  maxNewTokens: number | null,
  maxLength: number | null,
  limit: number,
): void {
  if (maxNewTokens !== null && maxNewTokens <= 0) {
    throw param('max_new_tokens', `\`max_new_tokens\` must be greater than 0, but is ${maxNewTokens}.`);
  }
  if (maxNewTokens !== null && maxNewTokens > limit) {
    throw param(
      'max_new_tokens',
      `\`max_new_tokens\` must be at most ${limit} (got ${maxNewTokens}); the limit is the maxNewTokensLimit option`,
    );
  }
  if (maxLength !== null && maxLength <= 0) {
    throw param('max_length', `\`max_length\` must be greater than 0, but is ${maxLength}.`);
  }
  if (s.min_length < 0) throw param('min_length', `\`min_length\` must be >= 0 (got ${s.min_length})`);
  if (s.min_new_tokens !== null && s.min_new_tokens < 0) {
    throw param('min_new_tokens', `\`min_new_tokens\` must be >= 0 (got ${s.min_new_tokens})`);
  }
  if (maxLength !== null && s.min_length > maxLength) {
    throw param('min_length', 'min_length cannot be larger than max_length');
  }
  if (!(s.repetition_penalty > 0)) {
    throw param(
      'repetition_penalty',
      `\`penalty\` has to be a strictly positive float, but is ${pyFloat(s.repetition_penalty)}`,
    );
  }
  if (s.num_beams < 1) throw param('num_beams', `\`num_beams\` must be >= 1 (got ${s.num_beams})`);
  if (s.num_beams > 32) throw param('num_beams', `\`num_beams\` must be at most 32 (got ${s.num_beams})`);
  if (s.num_return_sequences < 1) {
    throw param(
      'num_return_sequences',
      `\`num_return_sequences\` must be >= 1 (got ${s.num_return_sequences})`,
    );
  }
  if (s.num_return_sequences > 32) {
    throw param(
      'num_return_sequences',
      `\`num_return_sequences\` must be at most 32 (got ${s.num_return_sequences})`,
    );
  }
  if (s.max_time !== null && !(s.max_time > 0))
    throw param('max_time', `\`max_time\` must be > 0 (got ${s.max_time})`);
  if (s.num_beams === 1 && !s.do_sample && s.num_return_sequences > 1) {
    throw param(
      'num_return_sequences',
      `Greedy methods without beam search do not support \`num_return_sequences\` different than 1 (got ${s.num_return_sequences}).`,
    );
  }
  if (s.num_beams > 1 && s.num_return_sequences > s.num_beams) {
    throw param(
      'num_return_sequences',
      `\`num_return_sequences\` (${s.num_return_sequences}) has to be smaller or equal to \`num_beams\` (${s.num_beams}).`,
    );
  }
  if (s.do_sample) {
    if (!(s.temperature > 0)) {
      throw param(
        'temperature',
        `\`temperature\` (=${pyFloat(s.temperature)}) has to be a strictly positive float, otherwise your next token scores will be invalid.${s.temperature === 0 ? " If you're looking for greedy decoding strategies, set `do_sample=False`." : ''}`,
      );
    }
    if (s.top_k < 0)
      throw param('top_k', `\`top_k\` has to be a strictly positive integer, but is ${s.top_k}`);
    if (!(s.top_p > 0 && s.top_p <= 1))
      throw param('top_p', `\`top_p\` has to be a float > 0 and < 1, but is ${pyFloat(s.top_p)}`);
    if (!(s.typical_p > 0 && s.typical_p <= 1)) {
      throw param('typical_p', `\`typical_p\` has to be a float > 0 and < 1, but is ${pyFloat(s.typical_p)}`);
    }
  }
}

/** Python's repr of a float (1 -> "1.0"). */
function pyFloat(v: number): string {
  return Number.isInteger(v) ? `${v}.0` : String(v);
}

// ---------------------------------------------------------------------------------- inputs

/** A prompt: a string, or a chat. */
export type Prompt = { kind: 'text'; text: string } | { kind: 'chat'; messages: ChatMessage[] };

const CHAT_KEYS_MESSAGE = "When passing chat dicts as input, each dict must have a 'role' and 'content' key.";

export function parseMessages(v: unknown[], name: string): ChatMessage[] {
  if (v.length === 0) throw invalidInput(`\`${name}\` is an empty chat`);
  return v.map((m, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      throw invalidInput(`\`${name}[${i}]\` must be a {role, content} message (got ${describeValue(m)})`);
    }
    const msg = m as Record<string, unknown>;
    if (!('role' in msg) || !('content' in msg)) throw invalidInput(CHAT_KEYS_MESSAGE);
    if (typeof msg.role !== 'string') throw invalidInput(`\`${name}[${i}].role\` must be a string`);
    if (typeof msg.content !== 'string') throw invalidInput(`\`${name}[${i}].content\` must be a string`);
    checkText(`${name}[${i}].content`, msg.content);
    return { ...msg, role: msg.role, content: msg.content } as ChatMessage;
  });
}

/** `inputs` as prompts, and whether a single prompt was sent. */
export function parsePrompts(inputs: unknown): { prompts: Prompt[]; single: boolean } {
  if (typeof inputs === 'string')
    return { prompts: [{ kind: 'text', text: checkText('inputs', inputs) }], single: true };
  if (Array.isArray(inputs)) {
    if (inputs.length === 0) throw invalidInput('At least one input is required.');
    const first = inputs[0];
    if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
      return { prompts: [{ kind: 'chat', messages: parseMessages(inputs, 'inputs') }], single: true };
    }
    return {
      prompts: inputs.map((v, i) => {
        if (typeof v === 'string') return { kind: 'text', text: checkText(`inputs[${i}]`, v) };
        if (Array.isArray(v)) return { kind: 'chat', messages: parseMessages(v, `inputs[${i}]`) };
        throw invalidInput(`\`inputs[${i}]\` must be a string or a chat (got ${describeValue(v)})`);
      }),
      single: false,
    };
  }
  throw invalidInput(
    `\`inputs\` must be a string, a list of strings or a chat (got ${describeValue(inputs)})`,
  );
}

/** Prompt ids, the decoded prompt's length in code points, and the text prefix of the output. */
interface Encoded {
  ids: number[];
  decodedLength: number;
  continueFinal: boolean;
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** `s[from:]` in code points. */
function sliceCodePoints(s: string, from: number): string {
  let i = 0;
  let at = 0;
  for (const ch of s) {
    if (i === from) break;
    at += ch.length;
    i++;
  }
  return i < from ? '' : s.slice(at);
}

function encodePrompt(gc: GenerationContext, prompt: Prompt, rp: ResolvedParameters): Encoded {
  const tok = gc.model.tokenizer;
  let ids: number[];
  let continueFinal = false;
  if (prompt.kind === 'chat') {
    if (gc.chat === null) {
      throw invalidInput(
        'Cannot use chat template functions because tokenizer.chat_template is not set and no template argument was passed! For information about writing templates and setting the tokenizer.chat_template attribute, please see the documentation at https://huggingface.co/docs/transformers/main/en/chat_templating',
      );
    }
    continueFinal =
      rp.continueFinalMessage ?? prompt.messages[prompt.messages.length - 1]?.role === 'assistant';
    const text = gc.chat.render(prompt.messages, {
      addGenerationPrompt: !continueFinal,
      continueFinalMessage: continueFinal,
    });
    ids = Array.from(tok.encode(text, { addSpecialTokens: false }).inputIds, Number);
  } else {
    const prefix = typeof gc.model.config.raw.prefix === 'string' ? gc.model.config.raw.prefix : '';
    ids = Array.from(tok.encode(prefix + prompt.text).inputIds, Number);
  }
  if (rp.truncate !== null && ids.length > rp.truncate) ids = ids.slice(ids.length - rp.truncate);
  if (rp.hole) ids = holeCut(gc, ids, rp);
  if (ids.length === 0) {
    // generate() starts an empty prompt from the BOS token; the text cut starts at 0.
    const bos = gc.settings.bos_token_id ?? tok.specialTokens.bos_token_id;
    if (bos === null) throw invalidInput('the prompt is empty and the model has no BOS token to start from');
    return { ids: [bos], decodedLength: 0, continueFinal };
  }
  const decoded = tok.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: rp.cleanUp });
  return { ids, decodedLength: codePoints(decoded), continueFinal };
}

/**
 * `handle_long_generation: "hole"` as the reference's preprocessing does it: when the prompt and
 * the new tokens (the call's `max_new_tokens`, else `max_length` minus the prompt) exceed the
 * tokenizer's `model_max_length`, keep only the prompt's last tokens that leave room.
 */
function holeCut(gc: GenerationContext, ids: number[], rp: ResolvedParameters): number[] {
  const n = ids.length;
  const newTokens = rp.maxNewTokens ?? (rp.maxLength ?? rp.settings.max_length) - n;
  if (newTokens < 0) throw invalidInput('We cannot infer how many new tokens are expected');
  const limit = gc.model.tokenizer.modelMaxLength;
  if (limit === null || n + newTokens <= limit) return ids;
  const keep = limit - newTokens;
  if (keep <= 0) {
    throw invalidInput(
      'We cannot use `hole` to handle this generation the number of desired tokens exceeds the models max length',
    );
  }
  return ids.slice(n - keep);
}

/**
 * The logits processors and warpers of `s` for the kernels (transformers' order and rules), for a
 * prompt of `promptLength` tokens followed by at most `maxNew` new ones.
 */
export function decodingConfig(
  s: GenerationSettings,
  eos: number[],
  promptLength: number,
  maxNew: number,
): DecodingConfig {
  const n = promptLength;
  const decoding: DecodingConfig = { eosTokenIds: eos, maxLength: n + maxNew, beginIndex: n };
  if (s.repetition_penalty !== 1) decoding.repetitionPenalty = s.repetition_penalty;
  if (s.no_repeat_ngram_size > 0) decoding.noRepeatNgramSize = s.no_repeat_ngram_size;
  if (s.bad_words_ids !== null) decoding.badWordsIds = s.bad_words_ids;
  // generate() replaces min_length with min_new_tokens + the prompt length when both are set.
  const minLength = s.min_new_tokens !== null ? s.min_new_tokens + n : s.min_length;
  if (minLength > 0) decoding.minLength = minLength;
  if (s.min_new_tokens !== null && s.min_new_tokens > 0) decoding.minNewTokens = s.min_new_tokens;
  if (s.forced_bos_token_id !== null) decoding.forcedBosTokenId = s.forced_bos_token_id;
  if (s.forced_eos_token_id !== null) decoding.forcedEosTokenIds = eosList(s.forced_eos_token_id);
  if (s.suppress_tokens !== null) decoding.suppressTokens = s.suppress_tokens;
  if (s.begin_suppress_tokens !== null) decoding.beginSuppressTokens = s.begin_suppress_tokens;
  if (s.do_sample) {
    decoding.doSample = true;
    decoding.temperature = s.temperature;
    decoding.topK = s.top_k;
    decoding.topP = s.top_p;
    decoding.typicalP = s.typical_p;
    if (s.min_p !== null) decoding.minP = s.min_p;
  }
  return decoding;
}

/** The request for one prompt. */
function requestFor(
  gc: GenerationContext,
  enc: Encoded,
  rp: ResolvedParameters,
  stream: boolean,
): GenerationRequest {
  const s = rp.settings;
  const n = enc.ids.length;
  const context = gc.generator.layout.contextLength;
  let maxNew: number;
  if (rp.maxNewTokens !== null) maxNew = rp.maxNewTokens;
  else if (rp.maxLength !== null) {
    if (n >= rp.maxLength) {
      // The reference also hands max_length to the tokenizer, which cuts the prompt to it.
      throw new InvalidParameterError(
        'max_length',
        `Input length of input_ids is ${rp.maxLength}, but \`max_length\` is set to ${rp.maxLength}. This can lead to unexpected behavior. You should consider increasing \`max_length\` or, better yet, setting \`max_new_tokens\`.`,
      );
    }
    maxNew = rp.maxLength - n;
  } else if (s.max_new_tokens !== null) maxNew = s.max_new_tokens;
  else maxNew = Math.max(1, s.max_length - n);
  maxNew = Math.min(maxNew, gc.maxNewTokensLimit);
  if (context !== null) {
    if (n >= context) {
      throw invalidInput(
        `the prompt is ${n} tokens long; this model holds ${context} positions, so at most ${context - 1} prompt tokens leave room to generate`,
      );
    }
    // A learned position table ends at the context (the reference fails there); rotary
    // positions go on, as they do in the reference.
    if (!gc.generator.layout.rotary) maxNew = Math.min(maxNew, context - n);
  }
  const tok = gc.model.tokenizer;
  const stopIds =
    rp.stopSequence === undefined
      ? undefined
      : Array.from(tok.encode(rp.stopSequence, { addSpecialTokens: false }).inputIds, Number);
  // The pipeline's stop_sequence replaces the EOS ids with the stop text's ids.
  const eos = stopIds ?? eosList(s.eos_token_id ?? tok.specialTokens.eos_token_id);
  const decoding = decodingConfig(s, eos, n, maxNew);
  const pad = s.pad_token_id ?? tok.specialTokens.pad_token_id ?? eos[0] ?? 0;
  const req: GenerationRequest = {
    promptIds: enc.ids,
    decoding,
    rows: s.num_beams > 1 ? 1 : s.num_return_sequences,
    maxNewTokens: maxNew,
    eosTokenIds: stopIds === undefined ? eos : [],
    padTokenId: pad,
    stream,
  };
  if (stopIds !== undefined) req.stopTokenIds = stopIds;
  if (rp.stop.length > 0) req.stopStrings = rp.stop;
  if (s.max_time !== null) req.maxTime = s.max_time;
  if (rp.seed !== undefined) req.seed = rp.seed;
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

/** Whether an id is a special token of the tokenizer. */
export function isSpecialToken(tok: Tokenizer, id: number): boolean {
  return tok.convertIdsToTokens([id], { skip_special_tokens: true }).length === 0;
}

function isSpecial(gc: GenerationContext, id: number): boolean {
  return isSpecialToken(gc.model.tokenizer, id);
}

function tokenDetails(
  gc: GenerationContext,
  promptIds: number[],
  ids: number[],
  logprobs: number[],
): GeneratedToken[] {
  // Primed with the prompt, so that each piece is the text the token adds after it.
  const stream = gc.model.tokenizer.decodeStream({ skip_special_tokens: false });
  for (const id of promptIds) stream.step(id);
  return ids.map((id, i) => ({
    id,
    text: stream.step(id),
    logprob: logprobs[i] ?? null,
    special: isSpecial(gc, id),
  }));
}

/** Runs one prompt: its sequences, formatted. */
export async function generateOne(
  gc: GenerationContext,
  prompt: Prompt,
  rp: ResolvedParameters,
  call: GenerationCallOptions = {},
): Promise<TextGenerationOutput> {
  const enc = encodePrompt(gc, prompt, rp);
  const stream = call.onEvent !== undefined;
  const req = requestFor(gc, enc, rp, stream);
  const onToken =
    call.onEvent === undefined
      ? undefined
      : (e: TokenEvent) =>
          call.onEvent?.({
            type: 'token',
            index: e.sequence,
            token: { id: e.id, text: e.text, logprob: e.logprob, special: isSpecial(gc, e.id) },
          });
  const result = await gc.generator.generate(req, {
    ...(call.signal !== undefined && { signal: call.signal }),
    ...(onToken !== undefined && { onToken }),
  });
  const tok = gc.model.tokenizer;
  const out: TextGenerationOutput = [];
  result.sequences.forEach((seq, index) => {
    const full = tok.decode([...enc.ids, ...seq.ids], {
      skip_special_tokens: true,
      clean_up_tokenization_spaces: rp.cleanUp,
    });
    const newText = sliceCodePoints(full, enc.decodedLength);
    const item: TextGenerationOutputItem = { generated_text: newText };
    if (rp.returnFullText) {
      if (prompt.kind === 'text') item.generated_text = prompt.text + newText;
      else if (enc.continueFinal) {
        const msgs = prompt.messages.map((m) => ({ ...m }));
        const last = msgs[msgs.length - 1] as ChatMessage;
        last.content += newText;
        item.generated_text = msgs;
      } else
        item.generated_text = [
          ...prompt.messages.map((m) => ({ ...m })),
          { role: 'assistant', content: newText },
        ];
    }
    if (rp.details) {
      const details: TextGenerationDetails = {
        finish_reason: seq.finishReason,
        generated_tokens: seq.ids.length,
        tokens: tokenDetails(gc, enc.ids, seq.ids, seq.logprobs),
      };
      if (rp.settings.do_sample && rp.seed !== undefined) details.seed = rp.seed + index;
      if (seq.score !== undefined) details.sequence_score = seq.score;
      item.details = details;
    }
    call.onEvent?.({
      type: 'end',
      index,
      finish_reason: seq.finishReason,
      generated_tokens: seq.ids.length,
      generated_text: newText,
    });
    out.push(item);
  });
  return out;
}

function create(ctx: TaskContext) {
  const gc = generationContext(ctx, 'text-generation', ctx.options.generation ?? {});
  return async (inputs: unknown, parameters: unknown, call?: GenerationCallOptions) => {
    const { prompts, single } = parsePrompts(inputs);
    const rp = resolveParameters(gc, parameters);
    // Every prompt is submitted at once: the engine batches them step by step.
    const results = await Promise.all(prompts.map((p) => generateOne(gc, p, rp, call)));
    return single ? results[0] : results;
  };
}

const textGeneration: TaskDefinition = { create };
export default textGeneration;

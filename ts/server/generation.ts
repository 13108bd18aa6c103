/**
 * What every generation route shares: the generation tasks, a call tracker (client disconnect
 * cancels the call; time to first token, inter-token latency, generated tokens and active
 * sequences go to the metrics), whether a request samples without a seed (such answers are
 * never cached), prompt token counts for `usage`, and `executeStream`, which runs a call and
 * sends its events as server-sent events.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HfTasksError } from '../errors.js';
import { ChatTemplate } from '../generation/chat.js';
import { modelGenerationConfig, pipelineSettings, TEXT_GENERATION_DEFAULTS } from '../generation/config.js';
import { loadModelConfig } from '../runtime/config.js';
import type { Tokenizer } from '../tokenizer.js';
import type { TextGenerationStreamEvent } from '../types/text-generation.js';
import type { ServerContext } from './context.js';
import { deadlineSignal, withDeadline } from './deadline.js';
import { HttpError, type MappedError, mapError } from './errors.js';
import { computeHeaders } from './execute.js';
import { checkCounts, checkTokens } from './limits.js';
import { countCharacters } from './payload.js';
import type { ServedModel, ServedPipe } from './registry.js';
import { SseWriter } from './sse.js';

/** Tasks that decode token by token. */
export const GENERATION_TASKS: ReadonlySet<string> = new Set([
  'text-generation',
  'conversational',
  'text2text-generation',
  'summarization',
  'translation',
]);

/** Generation tasks of encoder-decoder models: one model serves all three. */
export const SEQ2SEQ_TASKS: readonly string[] = ['text2text-generation', 'summarization', 'translation'];

/** Tasks whose single-input requests may stream (`"stream": true`). */
export const STREAMING_TASKS: ReadonlySet<string> = new Set(['text-generation', ...SEQ2SEQ_TASKS]);

export type GenerationEvent = TextGenerationStreamEvent;
export type TokenEvent = Extract<GenerationEvent, { type: 'token' }>;
export type EndEvent = Extract<GenerationEvent, { type: 'end' }>;

/** Per-call options handed to a generation pipe. */
export interface PipeCallOptions {
  signal?: AbortSignal;
  onEvent?: (event: GenerationEvent) => void;
}

/** A pipe that takes per-call options (the generation tasks' pipes do). */
export type GenerationPipe = (
  inputs: unknown,
  parameters: unknown,
  call?: PipeCallOptions,
) => Promise<unknown>;

export function asGenerationPipe(pipe: ServedPipe): GenerationPipe {
  return pipe as unknown as GenerationPipe;
}

/**
 * One request's generation calls: an abort signal fired when the client closes the connection
 * before the answer is complete, and the metrics of the tokens its calls make.
 */
export class CallTracker {
  readonly #controller = new AbortController();
  readonly #ctx: ServerContext;
  readonly #model: string;
  readonly #reply: FastifyReply;
  readonly #onClose: () => void;

  constructor(ctx: ServerContext, model: string, reply: FastifyReply) {
    this.#ctx = ctx;
    this.#model = model;
    this.#reply = reply;
    this.#onClose = () => {
      if (!reply.raw.writableFinished) {
        this.#controller.abort(new HfTasksError('ERR_ABORTED', 'the client closed the connection'));
      }
    };
    reply.raw.on('close', this.#onClose);
  }

  /** True once the client has gone away. */
  get cancelled(): boolean {
    return this.#controller.signal.aborted;
  }

  /**
   * Runs one pipe call with the client's signal (and `extra`, e.g. the request deadline's),
   * measuring its tokens; `onEvent` sees every event.
   */
  async call(
    pipe: GenerationPipe,
    inputs: unknown,
    parameters: unknown,
    onEvent?: (event: GenerationEvent) => void,
    extra?: AbortSignal,
  ): Promise<unknown> {
    const m = this.#ctx.metrics;
    const labels = { model: this.#model };
    const started = performance.now();
    let first = true;
    const lastAt = new Map<number, number>();
    const seen = new Map<number, number>();
    // The request deadline's signal (when the call runs under one) also cancels it.
    const deadline = extra ?? deadlineSignal();
    const signal =
      deadline === undefined ? this.#controller.signal : AbortSignal.any([this.#controller.signal, deadline]);
    const handle = (e: GenerationEvent) => {
      const now = performance.now();
      if (e.type === 'token') {
        if (first) m.timeToFirstToken.observe(labels, (now - started) / 1000);
        first = false;
        const last = lastAt.get(e.index);
        if (last !== undefined) m.interTokenLatency.observe(labels, (now - last) / 1000);
        lastAt.set(e.index, now);
        seen.set(e.index, (seen.get(e.index) ?? 0) + 1);
        m.generatedTokens.inc(labels);
      } else {
        // Sequences without token events (beam search) are counted when they end.
        const missing = e.generated_tokens - (seen.get(e.index) ?? 0);
        if (missing > 0) m.generatedTokens.inc(labels, missing);
      }
      onEvent?.(e);
    };
    m.activeSequences.inc(labels);
    try {
      const out = await pipe(inputs, parameters, { signal, onEvent: handle });
      m.generationRequests.inc({ ...labels, outcome: 'ok' });
      return out;
    } catch (err) {
      const cancelled = err instanceof HfTasksError && err.code === 'ERR_ABORTED';
      m.generationRequests.inc({ ...labels, outcome: cancelled ? 'cancelled' : 'error' });
      throw err;
    } finally {
      m.activeSequences.dec(labels);
    }
  }

  dispose(): void {
    this.#reply.raw.off('close', this.#onClose);
  }
}

const samplingDefaults = new WeakMap<ServedModel, Map<string, boolean>>();

/** Whether the model's own settings sample for `task` (GPT-2's task_specific_params do). */
function modelSamples(model: ServedModel, task: string): boolean | undefined {
  const dir = model.resolved?.dir;
  if (dir === undefined) return undefined;
  let byTask = samplingDefaults.get(model);
  if (byTask === undefined) {
    byTask = new Map();
    samplingDefaults.set(model, byTask);
  }
  const known = byTask.get(task);
  if (known !== undefined) return known;
  try {
    const config = loadModelConfig(dir);
    const settings = pipelineSettings(
      modelGenerationConfig(dir, config),
      config,
      task,
      TEXT_GENERATION_DEFAULTS,
    );
    const samples = task === 'conversational' ? false : settings.do_sample;
    byTask.set(task, samples);
    return samples;
  } catch {
    return undefined;
  }
}

/**
 * True when a generation request may answer differently each time: it samples (`do_sample`
 * true, or absent and the model samples by default) without a `seed`. Such answers are never
 * cached, whatever `use_cache` says; unknown defaults count as sampling.
 */
export function samplesWithoutSeed(
  model: ServedModel,
  task: string,
  parameters: Record<string, unknown>,
): boolean {
  if (!GENERATION_TASKS.has(task)) return false;
  if (typeof parameters.seed === 'number') return false;
  if (parameters.do_sample === true) return true;
  if (parameters.do_sample === false) return false;
  return modelSamples(model, task) ?? true;
}

/** Checks a request's `max_new_tokens` (or `max_tokens`) against the server's limit (413 above). */
export function checkMaxNewTokens(ctx: ServerContext, parameters: Record<string, unknown>): void {
  for (const key of ['max_new_tokens', 'max_tokens']) {
    const v = parameters[key];
    if (typeof v === 'number' && v > ctx.config.maxNewTokens) {
      throw new HttpError(
        413,
        `\`${key}\` is ${v}; this server generates at most ${ctx.config.maxNewTokens} new tokens per sequence (raise it with --max-new-tokens or the \`maxNewTokens\` setting)`,
      );
    }
  }
}

const templates = new WeakMap<ServedModel, ChatTemplate | null>();

/** The ids of a prompt as the task encodes it: a text with special tokens, a chat through the template. */
export function promptIds(
  model: ServedModel,
  tokenizer: Tokenizer | null,
  prompt: string | Array<{ role: string; content: string }>,
): number[] | null {
  if (tokenizer === null) return null;
  if (typeof prompt === 'string') return Array.from(tokenizer.encode(prompt).inputIds, Number);
  let template = templates.get(model);
  if (template === undefined) {
    const dir = model.resolved?.dir;
    template = dir === undefined ? null : ChatTemplate.fromModelDir(dir, tokenizer);
    templates.set(model, template);
  }
  if (template === null) return null;
  const last = prompt[prompt.length - 1];
  const continueFinal = last?.role === 'assistant';
  try {
    const text = template.render(prompt, {
      addGenerationPrompt: !continueFinal,
      continueFinalMessage: continueFinal,
    });
    return Array.from(tokenizer.encode(text, { addSpecialTokens: false }).inputIds, Number);
  } catch {
    return null;
  }
}

/** Tokens of a prompt as the task encodes it (0 when they cannot be counted). */
export function promptTokens(
  model: ServedModel,
  tokenizer: Tokenizer | null,
  prompt: string | Array<{ role: string; content: string }>,
): number {
  return promptIds(model, tokenizer, prompt)?.length ?? 0;
}

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

/**
 * The text of a sequence as it grows, for streamed deltas that add up to the final text. Each
 * step decodes prompt and generated ids together and cuts the decoded prompt off, as the task
 * cuts its output; a trailing run of byte-fallback tokens (`<0x..>`) is held back until a
 * whole token follows, since such a run decodes as a unit (an incomplete or invalid UTF-8
 * sequence turns every byte of it into U+FFFD).
 */
export class StreamingText {
  readonly #tokenizer: Tokenizer;
  readonly #prompt: number[];
  readonly #promptLength: number;
  readonly #ids: number[] = [];
  #sent = '';

  constructor(tokenizer: Tokenizer, promptIds: number[]) {
    this.#tokenizer = tokenizer;
    this.#prompt = promptIds;
    this.#promptLength = this.#decode(promptIds).length;
  }

  #decode(ids: number[]): string {
    return this.#tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: true });
  }

  /** Adds a generated token; returns the text that can be sent now ('' for none). */
  push(id: number): string {
    this.#ids.push(id);
    const [piece] = this.#tokenizer.convertIdsToTokens([id]);
    if (piece !== undefined && BYTE_TOKEN.test(piece)) return '';
    const text = this.#decode([...this.#prompt, ...this.#ids]).slice(this.#promptLength);
    return this.#advance(text);
  }

  /** The rest of the final text (what the answer holds), when it extends what was sent. */
  finish(finalText: string): string {
    return this.#advance(finalText);
  }

  #advance(text: string): string {
    if (text.length <= this.#sent.length || !text.startsWith(this.#sent)) return '';
    const add = text.slice(this.#sent.length);
    this.#sent = text;
    return add;
  }

  /** Everything sent so far. */
  get sent(): string {
    return this.#sent;
  }
}

/** How a streaming route writes a call's events. */
export interface StreamFormat<R> {
  /** Payloads for one event of prompt `prompt` (none to skip it). */
  event(prompt: number, event: GenerationEvent): unknown[];
  /** Payloads once every call has returned. */
  final(result: R): unknown[];
  /** The payload that reports a failure after the stream began. */
  error(mapped: MappedError): unknown;
  /** A last line after everything (OpenAI's `[DONE]`). */
  done?: string;
}

export interface StreamCall<R> {
  route: string;
  model: ServedModel;
  task: string;
  /** The request's inputs (limits and `x-compute-characters`). */
  inputs: unknown;
  parameters: Record<string, unknown>;
  waitForModel: boolean;
  /** Runs the calls; `emit(prompt, event)` forwards their events. */
  invoke: (
    pipe: GenerationPipe,
    tracker: CallTracker,
    emit: (prompt: number, event: GenerationEvent) => void,
  ) => Promise<R>;
}

/**
 * Runs a streamed generation request. Everything that fails before the first event (limits,
 * loading, invalid parameters) is answered as a normal error with its status; from the first
 * event on the answer is `200 text/event-stream` and a later failure is an error event. A
 * client that closes the connection cancels its calls.
 */
export async function executeStream<R>(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  call: StreamCall<R>,
  format: StreamFormat<R>,
): Promise<FastifyReply> {
  const { model, task } = call;
  request.hfModel = model.id;
  checkCounts(ctx.config, task, call.inputs, call.parameters);
  checkMaxNewTokens(ctx, call.parameters);
  const characters = countCharacters(call.inputs);
  const tracker = new CallTracker(ctx, model.id, reply);
  const pending: Array<[number, GenerationEvent]> = [];
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const emit = (prompt: number, event: GenerationEvent) => {
    pending.push([prompt, event]);
    notify();
  };
  let settled = false;
  const done = ctx.registry
    .hold(model, async () => {
      const pipe = asGenerationPipe(await ctx.registry.acquire(model, task, call.waitForModel));
      if (characters > 0) {
        await checkTokens(ctx.config, ctx.registry.tokenizer(model), task, call.inputs, call.parameters);
      }
      return withDeadline(ctx.config.requestTimeout, () => call.invoke(pipe, tracker, emit));
    })
    .finally(() => {
      settled = true;
      notify();
    });
  // Wait for the first event, or the end of the call.
  while (pending.length === 0 && !settled) {
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
  if (pending.length === 0) {
    try {
      await done;
    } catch (err) {
      tracker.dispose();
      throw err;
    }
  }
  computeHeaders(ctx, reply, characters);
  const sse = new SseWriter(reply);
  void (async () => {
    try {
      for (;;) {
        for (let item = pending.shift(); item !== undefined; item = pending.shift()) {
          for (const payload of format.event(item[0], item[1])) sse.data(payload);
        }
        if (settled) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      const result = await done;
      for (const payload of format.final(result)) sse.data(payload);
    } catch (err) {
      if (!tracker.cancelled) {
        const mapped = mapError(err, 'hf');
        if (mapped.internal) request.log.error({ err }, 'generation stream failed');
        sse.data(format.error(mapped));
      }
    } finally {
      if (format.done !== undefined && !tracker.cancelled) sse.data(format.done);
      tracker.dispose();
      sse.end();
    }
  })();
  return reply;
}

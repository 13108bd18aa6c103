/**
 * OpenAI-compatible text generation: `POST /v1/completions` and `POST /v1/chat/completions`,
 * streamed (server-sent `data: {chunk}` events, then `data: [DONE]`) or not, on the
 * text-generation pipeline. `model` names the served model (absent, or a URL as
 * `@huggingface/inference` sends its endpoint: the first model serving text-generation); the
 * same routes under `/models/{id}/v1/...` use the model of the path. Answers follow OpenAI's
 * shapes (`id`, `object`, `created`, `model`, `choices`, `usage`); a stop string is cut from the
 * text as OpenAI does, and `finish_reason` is `stop` or `length`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { validateModelId } from '../../hub/model-id.js';
import type { TextGenerationOutputItem } from '../../types/text-generation.js';
import type { RouteConfig, ServerContext } from '../context.js';
import { badRequest, errorBody } from '../errors.js';
import { execute } from '../execute.js';
import {
  type CallTracker,
  type EndEvent,
  executeStream,
  type GenerationEvent,
  type GenerationPipe,
  promptIds,
  promptTokens,
  type StreamFormat,
  StreamingText,
} from '../generation.js';
import { decodeBody, normalizePayload } from '../payload.js';
import type { ServedModel } from '../registry.js';

const OPENAI: { config: RouteConfig } = { config: { dialect: 'openai' } };

type Body = Record<string, unknown>;
type Message = { role: string; content: string };
type Kind = 'completion' | 'chat';

/**
 * `system_fingerprint` of every answer and chunk: the server and its version (OpenAI and TGI
 * send one; `huggingface_hub` types it as a required string).
 */
export const SYSTEM_FINGERPRINT = `hf-tasks-${packageVersion()}`;

function packageVersion(): string {
  try {
    // ts/server/routes and dist/server/routes are both three levels below the package root.
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Most stop strings one request may give (OpenAI's limit). */
const MAX_STOP = 4;

function has(b: Body, key: string): boolean {
  return b[key] !== undefined && b[key] !== null;
}

function num(b: Body, key: string, min: number, max: number): number | undefined {
  if (!has(b, key)) return undefined;
  const v = b[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw badRequest(`\`${key}\` must be a number between ${min} and ${max}`);
  }
  return v;
}

function int(b: Body, key: string, min: number): number | undefined {
  const v = num(b, key, min, Number.MAX_SAFE_INTEGER);
  if (v !== undefined && !Number.isInteger(v)) throw badRequest(`\`${key}\` must be an integer`);
  return v;
}

/** Stop strings: a string or a list of at most four. */
function stops(b: Body): string[] {
  if (!has(b, 'stop')) return [];
  const v = b.stop;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s === '') || list.length > MAX_STOP) {
    throw badRequest(`\`stop\` must be a non-empty string or a list of at most ${MAX_STOP} of them`);
  }
  return list as string[];
}

/** Fields this server does not implement: sending them with an effect is a 400, not a no-op. */
function refuseUnsupported(b: Body, kind: Kind): void {
  const refuse = (key: string) => {
    throw badRequest(`\`${key}\` is not supported by this server`);
  };
  for (const key of ['presence_penalty', 'frequency_penalty']) if (has(b, key) && b[key] !== 0) refuse(key);
  if (has(b, 'logprobs') && b.logprobs !== false && b.logprobs !== 0) refuse('logprobs');
  if (has(b, 'top_logprobs')) refuse('top_logprobs');
  if (has(b, 'logit_bias') && Object.keys(b.logit_bias as object).length > 0) refuse('logit_bias');
  if (kind === 'completion') {
    if (b.echo === true) refuse('echo');
    if (has(b, 'suffix')) refuse('suffix');
    if (has(b, 'best_of') && b.best_of !== 1) refuse('best_of');
  } else {
    if (has(b, 'tools') && Array.isArray(b.tools) && b.tools.length > 0) refuse('tools');
    if (has(b, 'tool_choice') && b.tool_choice !== 'none') refuse('tool_choice');
    const format = b.response_format as { type?: unknown } | undefined;
    if (has(b, 'response_format') && format?.type !== 'text') refuse('response_format');
  }
}

/**
 * The pipeline parameters of a request. `temperature: 0` decodes greedily, a positive
 * temperature or a `top_p` samples; with neither the model's own settings apply (as the
 * Inference API route does), so a greedy model stays greedy.
 */
export function openaiParameters(b: Body, kind: Kind): Record<string, unknown> {
  refuseUnsupported(b, kind);
  const p: Record<string, unknown> = { return_full_text: false };
  const maxTokens =
    kind === 'chat'
      ? (int(b, 'max_completion_tokens', 1) ?? int(b, 'max_tokens', 1))
      : int(b, 'max_tokens', 1);
  if (maxTokens !== undefined) p.max_new_tokens = maxTokens;
  const temperature = num(b, 'temperature', 0, 2);
  const topP = num(b, 'top_p', 0, 1);
  if (temperature === 0) p.do_sample = false;
  else if (temperature !== undefined || topP !== undefined) {
    p.do_sample = true;
    if (temperature !== undefined) p.temperature = temperature;
    if (topP !== undefined) p.top_p = topP;
  }
  const seed = int(b, 'seed', 0);
  if (seed !== undefined) p.seed = seed;
  const stop = stops(b);
  if (stop.length > 0) p.stop = stop;
  const n = int(b, 'n', 1);
  if (n !== undefined && n > 1) p.num_return_sequences = n;
  // Extensions other OpenAI-compatible servers accept.
  const topK = int(b, 'top_k', 0);
  if (topK !== undefined) p.top_k = topK;
  const repetition = num(b, 'repetition_penalty', 0, 100);
  if (repetition !== undefined) p.repetition_penalty = repetition;
  return p;
}

/** The text of a message's `content`: a string, or the text parts of a list. */
function messageText(v: unknown, i: number): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) {
    return v
      .map((part, j) => {
        const p = part as { type?: unknown; text?: unknown };
        if (p?.type !== 'text' || typeof p.text !== 'string') {
          throw badRequest(`\`messages[${i}].content[${j}]\`: only text parts are supported`);
        }
        return p.text;
      })
      .join('');
  }
  throw badRequest(`\`messages[${i}].content\` must be a string or a list of text parts`);
}

function parseMessages(v: unknown): Message[] {
  if (!Array.isArray(v) || v.length === 0) throw badRequest('`messages` must be a non-empty list');
  return v.map((m, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      throw badRequest(`\`messages[${i}]\` must be an object {role, content}`);
    }
    const o = m as Record<string, unknown>;
    if (typeof o.role !== 'string') throw badRequest(`\`messages[${i}].role\` must be a string`);
    return { role: o.role, content: messageText(o.content, i) };
  });
}

function parsePrompts(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  throw badRequest('`prompt` must be a string or a non-empty list of strings (token ids are not supported)');
}

/**
 * The served model a request names (a URL, as @huggingface/inference sends, names none). An
 * encoder-decoder named by the path answers completions with text2text-generation.
 */
function pickModel(
  ctx: ServerContext,
  b: Body,
  pathModel: string | undefined,
  kind: Kind,
): { model: ServedModel; task: 'text-generation' | 'text2text-generation' } {
  if (pathModel !== undefined) {
    const served = ctx.registry.get(pathModel);
    if (
      kind === 'completion' &&
      !served.slots.has('text-generation') &&
      served.slots.has('text2text-generation')
    )
      return { model: served, task: 'text2text-generation' };
    return { model: ctx.registry.forTask('text-generation', pathModel), task: 'text-generation' };
  }
  const m = b.model;
  if (m !== undefined && m !== null && typeof m !== 'string') throw badRequest('`model` must be a string');
  const named = typeof m === 'string' && m !== '' && !/^https?:\/\//i.test(m) ? m : undefined;
  return { model: ctx.registry.forTask('text-generation', named), task: 'text-generation' };
}

/** Where a stop string begins in a text (the earliest), or -1. */
function stopIndex(text: string, stopList: readonly string[]): number {
  let at = -1;
  for (const s of stopList) {
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** The text OpenAI returns: cut before the stop string that ended it. */
function finalText(text: string, finish: string, stopList: readonly string[]): string {
  if (finish !== 'stop_sequence' || stopList.length === 0) return text;
  const at = stopIndex(text, stopList);
  return at >= 0 ? text.slice(0, at) : text;
}

/** How much of a streamed text can be sent: not a stop string, nor a tail that may begin one. */
function safeLength(text: string, stopList: readonly string[]): number {
  let cut = text.length;
  const full = stopIndex(text, stopList);
  if (full >= 0) cut = full;
  for (const s of stopList) {
    for (let k = Math.min(s.length - 1, text.length); k > 0; k--) {
      if (text.endsWith(s.slice(0, k))) {
        cut = Math.min(cut, text.length - k);
        break;
      }
    }
  }
  return cut;
}

function finishReason(reason: string): 'stop' | 'length' {
  return reason === 'length' ? 'length' : 'stop';
}

interface CallResult {
  outputs: TextGenerationOutputItem[][];
  ends: EndEvent[][];
}

/** Runs each prompt as its own call (events tell prompts apart that way). */
async function runPrompts(
  pipe: GenerationPipe,
  tracker: CallTracker,
  prompts: ReadonlyArray<string | Message[]>,
  parameters: Record<string, unknown>,
  emit?: (prompt: number, e: GenerationEvent) => void,
): Promise<CallResult> {
  const ends: EndEvent[][] = prompts.map(() => []);
  const outputs = await Promise.all(
    prompts.map(
      (prompt, i) =>
        tracker.call(pipe, prompt, parameters, (e) => {
          if (e.type === 'end') (ends[i] as EndEvent[]).push(e);
          emit?.(i, e);
        }) as Promise<TextGenerationOutputItem[]>,
    ),
  );
  return { outputs, ends };
}

interface Parsed {
  kind: Kind;
  model: ServedModel;
  task: 'text-generation' | 'text2text-generation';
  prompts: Array<string | Message[]>;
  parameters: Record<string, unknown>;
  stopList: string[];
  n: number;
  stream: boolean;
  includeUsage: boolean;
}

function parse(
  ctx: ServerContext,
  request: FastifyRequest,
  kind: Kind,
  pathModel?: string,
): { body: Body; p: Parsed } {
  const raw = decodeBody(request.body as Buffer | undefined, request.headers['content-type']);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw badRequest('the request body must be a JSON object');
  }
  const body = raw as Body;
  const { model, task } = pickModel(ctx, body, pathModel, kind);
  request.hfModel = model.id;
  const prompts: Array<string | Message[]> =
    kind === 'chat' ? [parseMessages(body.messages)] : parsePrompts(body.prompt);
  const parameters = openaiParameters(body, kind);
  if (task === 'text2text-generation') {
    // No prompt in the output to leave out, and no stop strings in the encoder-decoder tasks.
    delete parameters.return_full_text;
    if (parameters.stop !== undefined) throw badRequest('`stop` is not supported by encoder-decoder models');
  }
  if (has(body, 'stream') && typeof body.stream !== 'boolean') throw badRequest('`stream` must be a boolean');
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined;
  return {
    body,
    p: {
      kind,
      model,
      task,
      prompts,
      parameters,
      stopList: (parameters.stop as string[] | undefined) ?? [],
      n: (parameters.num_return_sequences as number | undefined) ?? 1,
      stream: body.stream === true,
      includeUsage: streamOptions?.include_usage === true,
    },
  };
}

function usage(ctx: ServerContext, p: Parsed, ends: EndEvent[][]) {
  const tokenizer = ctx.registry.tokenizer(p.model);
  let prompt = 0;
  for (const x of p.prompts) prompt += promptTokens(p.model, tokenizer, x);
  let completion = 0;
  for (const list of ends) for (const e of list) completion += e.generated_tokens;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Serves one completions or chat completions request. */
export async function openaiGeneration(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  kind: Kind,
  pathModel?: string,
): Promise<FastifyReply> {
  request.hfDialect = 'openai';
  const { body, p } = parse(ctx, request, kind, pathModel);
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
  const head = { id, object, created, model: p.model.id, system_fingerprint: SYSTEM_FINGERPRINT };
  const inputs = kind === 'chat' ? p.prompts[0] : p.prompts;
  const options = normalizePayload({ inputs: '' }, request.headers).options;
  const choiceIndex = (prompt: number, index: number) => prompt * p.n + index;

  if (!p.stream) {
    return execute(ctx, request, reply, {
      route: kind === 'chat' ? 'v1/chat/completions' : 'v1/completions',
      body,
      model: p.model,
      task: p.task,
      inputs,
      parameters: p.parameters,
      options,
      cacheable: false,
      invoke: (pipe, tracker) => {
        if (!tracker) throw new Error('generation call without a tracker');
        return runPrompts(pipe as unknown as GenerationPipe, tracker, p.prompts, p.parameters);
      },
      shape: (out) => {
        const { outputs, ends } = out as CallResult;
        const choices = outputs.flatMap((items, prompt) =>
          items.map((item, index) => {
            const end = ends[prompt]?.find((e) => e.index === index);
            const reason = end?.finish_reason ?? 'length';
            const text = finalText(String(item.generated_text), reason, p.stopList);
            const i = choiceIndex(prompt, index);
            return kind === 'chat'
              ? {
                  index: i,
                  message: { role: 'assistant', content: text },
                  logprobs: null,
                  finish_reason: finishReason(reason),
                }
              : { index: i, text, logprobs: null, finish_reason: finishReason(reason) };
          }),
        );
        return { ...head, choices, usage: usage(ctx, p, ends) };
      },
    });
  }

  const chunkObject = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const chunk = (choice: Record<string, unknown>) => ({ ...head, object: chunkObject, choices: [choice] });
  // Per choice: the text so far and how much of it was sent (a tail that may begin a stop
  // string waits for the next token).
  const streamed = new Map<number, { text: string; sent: number; decoder: StreamingText | null }>();
  const tokenizer = ctx.registry.tokenizer(p.model);
  const decoderFor = (prompt: number): StreamingText | null => {
    const x = p.prompts[prompt];
    const ids = tokenizer === null || x === undefined ? null : promptIds(p.model, tokenizer, x);
    return tokenizer === null || ids === null ? null : new StreamingText(tokenizer, ids);
  };
  const delta = (i: number, text: string, finish: string | null) =>
    kind === 'chat'
      ? chunk({
          index: i,
          // `role` in every delta, as TGI sends it (`huggingface_hub` types it as required).
          delta:
            text === '' && finish !== null ? { role: 'assistant' } : { role: 'assistant', content: text },
          logprobs: null,
          finish_reason: finish,
        })
      : chunk({ index: i, text, logprobs: null, finish_reason: finish });
  const format: StreamFormat<CallResult> = {
    event(prompt, e) {
      const i = choiceIndex(prompt, e.index);
      const out: unknown[] = [];
      let state = streamed.get(i);
      if (state === undefined) {
        state = { text: '', sent: 0, decoder: decoderFor(prompt) };
        streamed.set(i, state);
        if (kind === 'chat') {
          out.push(
            chunk({
              index: i,
              delta: { role: 'assistant', content: '' },
              logprobs: null,
              finish_reason: null,
            }),
          );
        }
      }
      if (e.type === 'token') {
        state.text += state.decoder ? state.decoder.push(e.token.id) : e.token.text;
        const safe = safeLength(state.text, p.stopList);
        if (safe > state.sent) {
          out.push(delta(i, state.text.slice(state.sent, safe), null));
          state.sent = safe;
        }
        return out;
      }
      // The end: the rest of the final text (held-back or cleaned-up characters), then the reason.
      const text = finalText(e.generated_text, e.finish_reason, p.stopList);
      const sentText = state.text.slice(0, state.sent);
      if (text.length > sentText.length && text.startsWith(sentText))
        out.push(delta(i, text.slice(sentText.length), null));
      out.push(delta(i, '', finishReason(e.finish_reason)));
      return out;
    },
    final(result) {
      if (!p.includeUsage) return [];
      return [{ ...head, object: chunkObject, choices: [], usage: usage(ctx, p, result.ends) }];
    },
    error: (m) => errorBody(m, 'openai'),
    done: '[DONE]',
  };
  return executeStream(
    ctx,
    request,
    reply,
    {
      route: kind === 'chat' ? 'v1/chat/completions' : 'v1/completions',
      model: p.model,
      task: p.task,
      inputs,
      parameters: p.parameters,
      waitForModel: options.waitForModel,
      invoke: (pipe, tracker, emit) => runPrompts(pipe, tracker, p.prompts, p.parameters, emit),
    },
    format,
  );
}

const SCOPED = [
  ['/v1/chat/completions', 'chat'],
  ['/v1/completions', 'completion'],
] as const;

/**
 * `/models/{id}/v1/chat/completions` or `/models/{id}/v1/completions` (where
 * `@huggingface/inference` posts when its endpoint is a model URL): the kind and the model id,
 * else undefined.
 */
export function scopedOpenaiPath(request: FastifyRequest): { kind: Kind; modelId: string } | undefined {
  const pathOnly = (request.raw.url ?? '').split('?')[0] ?? '';
  if (!pathOnly.startsWith('/models/')) return undefined;
  for (const [suffix, kind] of SCOPED) {
    if (!pathOnly.endsWith(suffix)) continue;
    const raw = pathOnly.slice('/models/'.length, -suffix.length);
    if (raw.includes('%')) throw badRequest('invalid model id: percent-encoded characters are not allowed');
    return { kind, modelId: validateModelId(raw) };
  }
  return undefined;
}

export function openaiGenerationRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/completions', OPENAI, (request, reply) =>
    openaiGeneration(ctx, request, reply, 'completion'),
  );
  app.post('/v1/chat/completions', OPENAI, (request, reply) => openaiGeneration(ctx, request, reply, 'chat'));
}

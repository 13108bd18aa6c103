/**
 * One inference request, whatever route it came by: result cache, the model's queue, loading
 * state (503 / wait_for_model), the pipeline call, metrics, and the API's response headers
 * (`x-compute-time`, `x-compute-type`, `x-compute-characters`). Generation calls are cancelled
 * when the client goes away, and a sampled generation without a seed is never cached.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ResultCache } from './cache.js';
import type { ServerContext } from './context.js';
import { withDeadline } from './deadline.js';
import {
  asGenerationPipe,
  CallTracker,
  checkMaxNewTokens,
  GENERATION_TASKS,
  samplesWithoutSeed,
} from './generation.js';
import { checkCounts, checkTokens } from './limits.js';
import { countCharacters, type RequestOptions } from './payload.js';
import type { ServedModel, ServedPipe } from './registry.js';

export interface InferenceCall {
  /** Route label for the cache key. */
  route: string;
  /**
   * The request as received (the decoded body): with the normalised inputs and parameters it
   * keys the result cache, so whatever the body says is part of the key.
   */
  body: unknown;
  model: ServedModel;
  task: string;
  inputs: unknown;
  parameters: Record<string, unknown>;
  options: RequestOptions;
  /** Turns the pipeline output into the route's response body. */
  shape?: (output: unknown) => unknown;
  /**
   * Runs the pipe (default: `pipe(inputs, parameters)`; generation tasks get the client's abort
   * signal and token metrics). `tracker` is set for generation tasks.
   */
  invoke?: (pipe: ServedPipe, tracker: CallTracker | undefined) => Promise<unknown>;
  /** False: the answer is never cached (e.g. OpenAI answers, which carry fresh ids). */
  cacheable?: boolean;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The body without its `options` (caching and waiting only; they never change the answer). */
function withoutOptions(body: unknown): unknown {
  if (!isPlainObject(body) || !Object.hasOwn(body, 'options')) return body;
  const { options: _options, ...rest } = body;
  return rest;
}

const IMAGE_TASKS: ReadonlySet<string> = new Set([
  'image-classification',
  'object-detection',
  'image-segmentation',
]);

/** Tasks whose string inputs are base64 audio, never text to count tokens of. */
const AUDIO_TASKS: ReadonlySet<string> = new Set(['automatic-speech-recognition', 'audio-classification']);

/** Number of inputs in a call: the length of a list input, else 1. */
function batchSize(inputs: unknown): number {
  return Array.isArray(inputs) ? inputs.length : 1;
}

/** Sets the API's compute headers on a reply. */
export function computeHeaders(ctx: ServerContext, reply: FastifyReply, characters?: number): void {
  reply.header('x-compute-time', (reply.elapsedTime / 1000).toFixed(3));
  reply.header('x-compute-type', ctx.computeType);
  if (characters !== undefined) reply.header('x-compute-characters', String(characters));
}

/** Runs the call and sends the JSON response. */
export async function execute(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  call: InferenceCall,
): Promise<FastifyReply> {
  const { model, task } = call;
  request.hfModel = model.id;
  checkCounts(ctx.config, task, call.inputs, call.parameters);
  const characters = countCharacters(call.inputs);
  // Image tasks also report the images they were sent (the API's metric header for them).
  if (IMAGE_TASKS.has(task)) reply.header('x-compute-images', String(batchSize(call.inputs)));
  const generation = GENERATION_TASKS.has(task);
  if (generation) checkMaxNewTokens(ctx, call.parameters);
  // A sampled generation without a seed answers differently each time: never cached.
  const cacheable =
    call.options.useCache &&
    ctx.cache.enabled &&
    call.cacheable !== false &&
    !samplesWithoutSeed(model, task, call.parameters);
  const key = cacheable
    ? ResultCache.key(call.route, model.id, task, {
        body: withoutOptions(call.body),
        inputs: call.inputs,
        parameters: call.parameters,
        warnings: [...new Set(request.hfWarnings)].sort(),
      })
    : '';
  if (cacheable) {
    const hit = ctx.cache.get(key);
    ctx.metrics.cacheLookups.inc({ result: hit ? 'hit' : 'miss' });
    if (hit) {
      computeHeaders(ctx, reply, hit.characters);
      reply.header('x-cache', 'hit');
      return reply.type('application/json; charset=utf-8').send(hit.body);
    }
  }
  const output = await ctx.registry.hold(model, async () => {
    const pipe = await ctx.registry.acquire(model, task, call.options.waitForModel);
    // The token limit is checked (and the tokens counted for the metrics) before any work.
    const tokens =
      characters > 0 && !AUDIO_TASKS.has(task)
        ? await checkTokens(ctx.config, ctx.registry.tokenizer(model), task, call.inputs, call.parameters)
        : 0;
    const started = performance.now();
    const tracker = generation ? new CallTracker(ctx, model.id, reply) : undefined;
    const out = await withDeadline(ctx.config.requestTimeout, () => {
      if (call.invoke) return call.invoke(pipe, tracker);
      if (tracker) {
        return tracker.call(asGenerationPipe(pipe), call.inputs, call.parameters);
      }
      return pipe(call.inputs, call.parameters);
    }).finally(() => tracker?.dispose());
    ctx.metrics.inferenceDuration.observe({ model: model.id, task }, (performance.now() - started) / 1000);
    ctx.metrics.batchSize.observe({ model: model.id, task }, batchSize(call.inputs));
    ctx.metrics.inputCharacters.inc({ model: model.id }, characters);
    if (ctx.config.countTokens && tokens > 0) ctx.metrics.inputTokens.inc({ model: model.id }, tokens);
    return out;
  });
  let body = call.shape ? call.shape(output) : output;
  if (isPlainObject(body) && request.hfWarnings.length > 0) {
    body = { ...body, warnings: [...new Set(request.hfWarnings)].sort() };
  }
  const text = JSON.stringify(body);
  if (cacheable) ctx.cache.set(key, { body: text, characters });
  computeHeaders(ctx, reply, characters);
  if (cacheable) reply.header('x-cache', 'miss');
  return reply.type('application/json; charset=utf-8').send(text);
}

/**
 * text-generation-inference (TGI) compatible routes: `POST /generate` (`{generated_text,
 * details?}`) and `POST /generate_stream` (server-sent events, one per token in TGI's shape, the
 * last one carrying `generated_text` and `details`), plus `"stream": true` on
 * `/models/{id}` for text-generation. Bodies are `{inputs, parameters?, stream?, model?}` with
 * TGI's parameter names; `return_full_text` defaults to false as in TGI (the Inference API
 * route keeps the pipeline's true). Errors are `{"error", "error_type"}`, invalid requests 422.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TextGenerationDetails, TextGenerationOutputItem } from '../../types/text-generation.js';
import type { RouteConfig, ServerContext } from '../context.js';
import { badRequest, errorBody } from '../errors.js';
import { execute } from '../execute.js';
import {
  type CallTracker,
  executeStream,
  type GenerationEvent,
  promptTokens,
  type StreamFormat,
} from '../generation.js';
import { decodeBody, normalizePayload } from '../payload.js';
import type { ServedModel } from '../registry.js';

const TGI: { config: RouteConfig } = { config: { dialect: 'tgi' } };

/** TGI parameters this server does not implement: asking for them is a 422, not a silent no-op. */
const UNSUPPORTED: ReadonlyArray<readonly [string, (v: unknown) => boolean]> = [
  ['best_of', (v) => typeof v === 'number' && v > 1],
  ['watermark', (v) => v === true],
  ['decoder_input_details', (v) => v === true],
  ['top_n_tokens', (v) => typeof v === 'number' && v > 0],
  ['grammar', (v) => v !== undefined && v !== null],
  ['frequency_penalty', (v) => typeof v === 'number' && v !== 0],
  ['adapter_id', (v) => v !== undefined && v !== null],
];

/** The parameters of a TGI body, with TGI's defaults (return_full_text false). */
export function tgiParameters(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === null || v === undefined) continue;
    const unsupported = UNSUPPORTED.find(([name]) => name === k);
    if (unsupported?.[1](v)) throw badRequest(`\`${k}\` is not supported by this server`);
    if (unsupported) continue;
    out[k] = v;
  }
  out.return_full_text ??= false;
  return out;
}

/** The seed a TGI answer reports: the request's, when it samples. */
export function reportedSeed(parameters: Record<string, unknown>): number | null {
  return parameters.do_sample === true && typeof parameters.seed === 'number' ? parameters.seed : null;
}

/**
 * The TGI event stream of one prompt: each token event is held until the next one (or the
 * end) arrives, so that the last token's event carries `generated_text` and `details`, as TGI
 * sends it.
 */
export function tgiStreamFormat(opts: {
  prefix: string;
  inputLength: () => number;
  seed: number | null;
}): StreamFormat<unknown> {
  const held = new Map<number, Extract<GenerationEvent, { type: 'token' }>>();
  const tokenEvent = (e: Extract<GenerationEvent, { type: 'token' }>) => ({
    index: e.index,
    token: e.token,
    generated_text: null,
    details: null,
  });
  return {
    event(_prompt, e) {
      if (e.type === 'token') {
        const previous = held.get(e.index);
        held.set(e.index, e);
        return previous ? [tokenEvent(previous)] : [];
      }
      const last = held.get(e.index);
      held.delete(e.index);
      return [
        {
          index: e.index,
          token: last?.token ?? { id: 0, text: '', logprob: 0, special: true },
          generated_text: opts.prefix + e.generated_text,
          details: {
            finish_reason: e.finish_reason,
            generated_tokens: e.generated_tokens,
            input_length: opts.inputLength(),
            seed: opts.seed,
          },
        },
      ];
    },
    final: () => [],
    error: (m) => errorBody(m, 'tgi'),
  };
}

interface GenerateBody {
  inputs: string;
  parameters: Record<string, unknown>;
  stream: boolean;
  model: ServedModel;
}

function readBody(ctx: ServerContext, request: FastifyRequest): GenerateBody {
  const body = decodeBody(request.body as Buffer | undefined, request.headers['content-type']);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the request body must be a JSON object {"inputs": string, "parameters"?: {...}}');
  }
  const b = body as Record<string, unknown>;
  if (typeof b.inputs !== 'string') throw badRequest('`inputs` must be a string');
  const params = b.parameters ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw badRequest('`parameters` must be an object');
  }
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') {
    throw badRequest('`stream` must be a boolean');
  }
  if (b.model !== undefined && b.model !== null && typeof b.model !== 'string') {
    throw badRequest('`model` must be a string');
  }
  const model = ctx.registry.forTask('text-generation', (b.model as string | null | undefined) ?? undefined);
  return {
    inputs: b.inputs,
    parameters: tgiParameters(params as Record<string, unknown>),
    stream: b.stream === true,
    model,
  };
}

/**
 * The pipeline's `details` in TGI's shape: `seed` (null when greedy) and `prefill` (always
 * empty: `decoder_input_details` is not implemented) are TGI fields that typed clients
 * (`huggingface_hub`'s `TextGenerationOutputDetails`) require; other fields (a beam search's
 * `sequence_score`) are kept.
 */
export function tgiDetails(d: TextGenerationDetails, seed: number | null): Record<string, unknown> {
  const { finish_reason, generated_tokens, seed: own, tokens, ...rest } = d;
  return { finish_reason, generated_tokens, seed: own ?? seed, prefill: [], tokens, ...rest };
}

/** A TGI `/generate` answer from the pipeline's output item. */
function generateAnswer(item: TextGenerationOutputItem, wantDetails: boolean, seed: number | null) {
  const out: Record<string, unknown> = { generated_text: item.generated_text };
  if (wantDetails && item.details) {
    const { sequence_score: _, ...d } = item.details;
    out.details = tgiDetails(d, seed);
  }
  return out;
}

/** Streams a single text prompt in TGI's event shape. */
export function streamTgi(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  opts: {
    route: string;
    model: ServedModel;
    task: string;
    inputs: unknown;
    parameters: Record<string, unknown>;
    waitForModel: boolean;
  },
): Promise<FastifyReply> {
  const { model, inputs, parameters } = opts;
  // Only text-generation puts the prompt in front of the text (return_full_text).
  const prefix =
    opts.task === 'text-generation' && parameters.return_full_text !== false && typeof inputs === 'string'
      ? inputs
      : '';
  let inputLength: number | undefined;
  const format = tgiStreamFormat({
    prefix,
    seed: reportedSeed(parameters),
    inputLength: () => {
      if (inputLength === undefined) {
        const n =
          typeof inputs === 'string' || Array.isArray(inputs)
            ? promptTokens(model, ctx.registry.tokenizer(model), inputs as string)
            : 0;
        // TGI's `truncate` keeps the last N prompt tokens.
        const keep = parameters.truncate;
        inputLength = typeof keep === 'number' && keep >= 1 ? Math.min(n, keep) : n;
      }
      return inputLength;
    },
  });
  return executeStream(
    ctx,
    request,
    reply,
    {
      route: opts.route,
      model,
      task: opts.task,
      inputs,
      parameters,
      waitForModel: opts.waitForModel,
      invoke: (pipe, tracker: CallTracker, emit) => tracker.call(pipe, inputs, parameters, (e) => emit(0, e)),
    },
    format,
  );
}

export function generateRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const generate = async (request: FastifyRequest, reply: FastifyReply, forceStream: boolean) => {
    const body = readBody(ctx, request);
    const { options } = normalizePayload({ inputs: '' }, request.headers);
    if (forceStream || body.stream) {
      return streamTgi(ctx, request, reply, {
        route: 'generate_stream',
        model: body.model,
        task: 'text-generation',
        inputs: body.inputs,
        parameters: body.parameters,
        waitForModel: options.waitForModel,
      });
    }
    const wantDetails = body.parameters.details === true;
    return execute(ctx, request, reply, {
      route: 'generate',
      body: decodeBody(request.body as Buffer | undefined, request.headers['content-type']),
      model: body.model,
      task: 'text-generation',
      inputs: body.inputs,
      parameters: body.parameters,
      options,
      shape: (out) => {
        const items = out as TextGenerationOutputItem[];
        const first = items[0];
        if (first === undefined) return { generated_text: '' };
        return generateAnswer(first, wantDetails, reportedSeed(body.parameters));
      },
    });
  };
  app.post('/generate', TGI, (request, reply) => generate(request, reply, false));
  app.post('/generate_stream', TGI, (request, reply) => generate(request, reply, true));
}

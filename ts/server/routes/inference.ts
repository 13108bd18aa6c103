/**
 * Inference API routes: `POST /models/{model_id}` (the model's task) and
 * `POST /pipeline/{task}/{model_id}` (a task override, e.g. feature-extraction on a
 * sentence-similarity model). Body `{inputs, parameters?, options?}`, a raw text body, or a
 * JSON value used as the input itself. Text generation with `"stream": true` answers TGI's
 * server-sent events. The OpenAI routes scoped to a model (`/models/{id}/v1/completions` and
 * `/models/{id}/v1/chat/completions`, where `@huggingface/inference` sends them) are served here
 * too.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { validateModelId } from '../../hub/model-id.js';
import type { TextGenerationOutputItem } from '../../types/text-generation.js';
import type { RouteConfig, ServerContext } from '../context.js';
import { badRequest, HttpError } from '../errors.js';
import { execute } from '../execute.js';
import { STREAMING_TASKS } from '../generation.js';
import { decodeBody, normalizePayload } from '../payload.js';
import type { ServedModel } from '../registry.js';
import { reportedSeed, streamTgi, tgiDetails } from './generate.js';
import { openaiGeneration, scopedOpenaiPath } from './openai-chat.js';

/**
 * The model id of a request, read from the raw URL (after `prefix`) so that percent-encoded
 * separators cannot smuggle a `/` or `..` past the router; checked with the hub's id rules.
 */
export function modelIdFromUrl(request: FastifyRequest, prefix: string): string {
  const url = request.raw.url ?? '';
  const pathOnly = url.split('?')[0] ?? '';
  if (!pathOnly.startsWith(prefix)) throw badRequest('invalid model path');
  const raw = pathOnly.slice(prefix.length);
  if (raw.includes('%')) {
    throw badRequest(
      `invalid model id ${JSON.stringify(raw.slice(0, 120))}: percent-encoded characters are not allowed`,
    );
  }
  return validateModelId(raw);
}

/**
 * The task a `/models/{id}` request runs when the model serves several: sentence-similarity for
 * a `{source_sentence, sentences}` input, conversational for the legacy `{text,
 * past_user_inputs, generated_responses}` input, else feature-extraction or text-generation.
 */
export function pickTask(model: ServedModel, inputs: unknown): string {
  const tasks = [...model.slots.keys()];
  const first = tasks[0];
  if (first === undefined) throw new HttpError(500, `Model ${model.id} serves no task`);
  if (tasks.length === 1) return first;
  const record = typeof inputs === 'object' && inputs !== null && !Array.isArray(inputs);
  const similarityShape = record && 'source_sentence' in inputs;
  if (similarityShape && tasks.includes('sentence-similarity')) return 'sentence-similarity';
  if (!similarityShape && tasks.includes('feature-extraction')) return 'feature-extraction';
  if (record && 'text' in inputs && tasks.includes('conversational')) return 'conversational';
  if (tasks.includes('text-generation')) return 'text-generation';
  return first;
}

/** Text-generation items (at any list depth) with their `details` in TGI's shape. */
function withTgiDetails(output: unknown, seed: number | null): unknown {
  if (Array.isArray(output)) return output.map((x) => withTgiDetails(x, seed));
  if (typeof output !== 'object' || output === null) return output;
  const item = output as TextGenerationOutputItem;
  if (typeof item.details !== 'object' || item.details === null) return output;
  return { ...item, details: tgiDetails(item.details, seed) };
}

/**
 * Wire format: text classification of a single input is a list of one label list
 * (`[[{label, score}, ...]]`), as the live API answers; text-generation `details` carry TGI's
 * `seed` and `prefill` (as `/generate` sends them), which `huggingface_hub`'s
 * `TextGenerationOutputDetails` requires.
 */
export function wireShape(
  task: string,
  inputs: unknown,
  parameters: Record<string, unknown> = {},
): ((output: unknown) => unknown) | undefined {
  if (task === 'text-generation' && parameters.details === true) {
    const seed = reportedSeed(parameters);
    return (output) => withTgiDetails(output, seed);
  }
  if (task !== 'text-classification' || Array.isArray(inputs)) return undefined;
  return (output) => (Array.isArray(output) && !Array.isArray(output[0]) ? [output] : output);
}

/** Feature-extraction options that TEI and the hub clients send beside `inputs`, not in `parameters`. */
export const ROOT_EMBEDDING_OPTIONS = [
  'normalize',
  'truncate',
  'truncation_direction',
  'prompt_name',
] as const;

/**
 * The parameters of a feature-extraction request: `parameters` plus the options sent at the top
 * level of the body (as `huggingface_hub`, `@huggingface/inference` and TEI send them). The same
 * option given in both places with different values is a 400.
 */
export function withRootEmbeddingOptions(
  body: unknown,
  parameters: Record<string, unknown>,
): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !Object.hasOwn(body, 'inputs')) {
    return parameters;
  }
  const root = body as Record<string, unknown>;
  let out = parameters;
  for (const key of ROOT_EMBEDDING_OPTIONS) {
    const v = root[key];
    if (v === undefined || v === null) continue;
    if (Object.hasOwn(parameters, key) && parameters[key] !== null && parameters[key] !== v) {
      throw badRequest(
        `\`${key}\` is given both at the top level (${JSON.stringify(v)}) and in \`parameters\` (${JSON.stringify(parameters[key])})`,
      );
    }
    if (out === parameters) out = { ...parameters };
    out[key] = v;
  }
  return out;
}

const HF: { config: RouteConfig } = { config: { dialect: 'hf' } };

/** The body's top-level `stream` flag (TGI's; text-generation answers server-sent events). */
function streamFlag(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !Object.hasOwn(body, 'inputs'))
    return false;
  const v = (body as Record<string, unknown>).stream;
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw badRequest('`stream` must be a boolean');
  return v;
}

export function inferenceRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const run = async (
    request: FastifyRequest,
    reply: FastifyReply,
    task: string | undefined,
    modelId: string,
  ) => {
    request.hfModel = ctx.registry.has(modelId) ? modelId : '';
    const model = ctx.registry.get(modelId);
    const body = decodeBody(request.body as Buffer | undefined, request.headers['content-type']);
    const payload = normalizePayload(body, request.headers);
    request.hfWarnings.push(...payload.warnings);
    let chosen: string;
    if (task === undefined) chosen = pickTask(model, payload.inputs);
    else {
      const canonical = ctx.registry.canonical(task);
      if (canonical === undefined) throw badRequest(`unknown task ${JSON.stringify(task)}`);
      if (!model.slots.has(canonical))
        throw badRequest(
          `Model ${modelId} does not serve ${canonical}; it serves ${[...model.slots.keys()].join(', ')}`,
        );
      chosen = canonical;
    }
    const parameters =
      chosen === 'feature-extraction'
        ? withRootEmbeddingOptions(body, payload.parameters)
        : payload.parameters;
    const stream = streamFlag(body);
    if (stream) {
      if (!STREAMING_TASKS.has(chosen))
        throw badRequest(
          `\`stream\` is only supported for ${[...STREAMING_TASKS].join(', ')} (this request runs ${chosen})`,
        );
      const single =
        typeof payload.inputs === 'string' ||
        (Array.isArray(payload.inputs) &&
          payload.inputs.every((m) => typeof m === 'object' && m !== null && !Array.isArray(m)));
      if (!single) throw badRequest('`stream` takes a single prompt (a string or one chat)');
      return streamTgi(ctx, request, reply, {
        route: 'models',
        model,
        task: chosen,
        inputs: payload.inputs,
        parameters,
        waitForModel: payload.options.waitForModel,
      });
    }
    return execute(ctx, request, reply, {
      route: 'models',
      body,
      model,
      task: chosen,
      inputs: payload.inputs,
      parameters,
      options: payload.options,
      shape: wireShape(chosen, payload.inputs, parameters),
    });
  };
  app.post('/models/*', HF, async (request, reply) => {
    const scoped = scopedOpenaiPath(request);
    if (scoped) return openaiGeneration(ctx, request, reply, scoped.kind, scoped.modelId);
    return run(request, reply, undefined, modelIdFromUrl(request, '/models/'));
  });

  app.post<{ Params: { task: string } }>('/pipeline/:task/*', HF, async (request, reply) => {
    const task = request.params.task;
    if (!/^[a-z][a-z0-9-]*$/.test(task)) throw badRequest('invalid task name');
    return run(request, reply, task, modelIdFromUrl(request, `/pipeline/${task}/`));
  });
}

/**
 * Inference API routes: `POST /models/{model_id}` (the model's task) and
 * `POST /pipeline/{task}/{model_id}` (a task override, e.g. feature-extraction on a
 * sentence-similarity model). Body `{inputs, parameters?, options?}`, a raw text body, or a
 * JSON value used as the input itself.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { validateModelId } from '../../hub/model-id.js';
import type { RouteConfig, ServerContext } from '../context.js';
import { badRequest, HttpError } from '../errors.js';
import { execute } from '../execute.js';
import { decodeBody, normalizePayload } from '../payload.js';
import type { ServedModel } from '../registry.js';

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

/** The task a `/models/{id}` request runs: sentence-similarity when the input is that shape. */
export function pickTask(model: ServedModel, inputs: unknown): string {
  const tasks = [...model.slots.keys()];
  const first = tasks[0];
  if (first === undefined) throw new HttpError(500, `Model ${model.id} serves no task`);
  if (tasks.length === 1) return first;
  const similarityShape =
    typeof inputs === 'object' && inputs !== null && !Array.isArray(inputs) && 'source_sentence' in inputs;
  if (similarityShape && tasks.includes('sentence-similarity')) return 'sentence-similarity';
  if (!similarityShape && tasks.includes('feature-extraction')) return 'feature-extraction';
  return first;
}

/**
 * Wire format: text classification of a single input is a list of one label list
 * (`[[{label, score}, ...]]`), as the live API answers.
 */
export function wireShape(task: string, inputs: unknown): ((output: unknown) => unknown) | undefined {
  if (task !== 'text-classification' || Array.isArray(inputs)) return undefined;
  return (output) => (Array.isArray(output) && !Array.isArray(output[0]) ? [output] : output);
}

const HF: { config: RouteConfig } = { config: { dialect: 'hf' } };

export function inferenceRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const run = async (request: FastifyRequest, task: string | undefined, modelId: string) => {
    request.hfModel = ctx.registry.has(modelId) ? modelId : '';
    const model = ctx.registry.get(modelId);
    const payload = normalizePayload(
      decodeBody(request.body as Buffer | undefined, request.headers['content-type']),
      request.headers,
    );
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
    return { model, chosen, payload };
  };

  app.post('/models/*', HF, async (request, reply) => {
    const modelId = modelIdFromUrl(request, '/models/');
    const { model, chosen, payload } = await run(request, undefined, modelId);
    return execute(ctx, request, reply, {
      route: 'models',
      model,
      task: chosen,
      inputs: payload.inputs,
      parameters: payload.parameters,
      options: payload.options,
      shape: wireShape(chosen, payload.inputs),
    });
  });

  app.post<{ Params: { task: string } }>('/pipeline/:task/*', HF, async (request, reply) => {
    const task = request.params.task;
    if (!/^[a-z][a-z0-9-]*$/.test(task)) throw badRequest('invalid task name');
    const modelId = modelIdFromUrl(request, `/pipeline/${task}/`);
    const { model, chosen, payload } = await run(request, task, modelId);
    return execute(ctx, request, reply, {
      route: 'models',
      model,
      task: chosen,
      inputs: payload.inputs,
      parameters: payload.parameters,
      options: payload.options,
      shape: wireShape(chosen, payload.inputs),
    });
  });
}

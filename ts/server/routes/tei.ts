/**
 * text-embeddings-inference (TEI) compatible routes: `/embed`, `/similarity`, `/rerank`,
 * `/predict` and `/tokenize`. Bodies follow TEI; errors are `{"error", "error_type"}`. An
 * optional `model` field picks a served model (default: the first one serving the task).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteConfig, ServerContext } from '../context.js';
import { badRequest, HttpError } from '../errors.js';
import { computeHeaders, execute } from '../execute.js';
import { checkCounts, checkTokens } from '../limits.js';
import { countCharacters, decodeBody, normalizePayload } from '../payload.js';
import { tokenizeForDisplay } from '../tokens.js';

const TEI: { config: RouteConfig } = { config: { dialect: 'tei' } };

type Body = Record<string, unknown>;

/** The JSON object body of a TEI request (anything else is a 400). */
function objectBody(request: FastifyRequest): Body {
  const value = decodeBody(request.body as Buffer | undefined, request.headers['content-type']);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest('the request body must be a JSON object');
  }
  return value as Body;
}

function optionalString(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`\`${key}\` must be a string`);
  return v;
}

function optionalBool(body: Body, key: string, fallback: boolean): boolean {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw badRequest(`\`${key}\` must be a boolean`);
  return v;
}

function stringList(v: unknown, key: string, opts: { allowSingle: boolean }): string[] {
  if (typeof v === 'string' && opts.allowSingle) return [v];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw badRequest(`\`${key}\` must be ${opts.allowSingle ? 'a string or ' : ''}a list of strings`);
  }
  if (v.length === 0) throw badRequest(`\`${key}\` cannot be empty`);
  return v as string[];
}

/** Copies the TEI truncation and prompt fields that were sent into pipeline parameters. */
function embeddingParameters(body: Body): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['truncate', 'truncation_direction', 'prompt_name']) {
    if (body[key] !== undefined && body[key] !== null) out[key] = body[key];
  }
  return out;
}

/** `x-use-cache` / `x-wait-for-model` headers (TEI bodies have no `options`). */
function headerOptions(request: FastifyRequest) {
  return normalizePayload({ inputs: '' }, request.headers).options;
}

/** Output of one text-classification input: its `[{label, score}]` list. */
type Labels = Array<{ label: string; score: number }>;

function asLabelLists(output: unknown, n: number): Labels[] {
  if (!Array.isArray(output) || output.length !== n)
    throw new HttpError(500, 'unexpected classification output');
  return output as Labels[];
}

export function teiRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/embed', TEI, async (request, reply) => {
    const body = objectBody(request);
    const model = ctx.registry.forTask('feature-extraction', optionalString(body, 'model'));
    const inputs = body.inputs;
    stringList(inputs, 'inputs', { allowSingle: true });
    // TEI defaults: normalised, and an input over the model limit is an error unless `truncate`.
    const parameters = {
      ...embeddingParameters(body),
      normalize: optionalBool(body, 'normalize', true),
      truncate: optionalBool(body, 'truncate', false),
    };
    return execute(ctx, request, reply, {
      route: 'embed',
      body,
      model,
      task: 'feature-extraction',
      inputs,
      parameters,
      options: headerOptions(request),
      shape: (out) => (typeof inputs === 'string' ? [out] : out),
    });
  });

  app.post('/similarity', TEI, async (request, reply) => {
    const body = objectBody(request);
    const model = ctx.registry.forTask('sentence-similarity', optionalString(body, 'model'));
    const inputs = body.inputs;
    if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
      throw badRequest('`inputs` must be an object {"source_sentence": string, "sentences": [string]}');
    }
    const params = body.parameters ?? {};
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      throw badRequest('`parameters` must be an object');
    }
    return execute(ctx, request, reply, {
      route: 'similarity',
      body,
      model,
      task: 'sentence-similarity',
      inputs,
      parameters: params as Record<string, unknown>,
      options: headerOptions(request),
    });
  });

  app.post('/rerank', TEI, async (request, reply) => {
    const body = objectBody(request);
    const model = ctx.registry.forTask('text-classification', optionalString(body, 'model'));
    const query = body.query;
    if (typeof query !== 'string') throw badRequest('`query` must be a string');
    const texts = stringList(body.texts, 'texts', { allowSingle: false });
    const rawScores = optionalBool(body, 'raw_scores', false);
    const returnText = optionalBool(body, 'return_text', false);
    const parameters: Record<string, unknown> = {};
    if (rawScores) parameters.function_to_apply = 'none';
    if (optionalBool(body, 'truncate', false)) parameters.truncation = true;
    return execute(ctx, request, reply, {
      route: 'rerank',
      body,
      model,
      task: 'text-classification',
      inputs: texts.map((text) => ({ text: query, text_pair: text })),
      parameters,
      options: headerOptions(request),
      shape: (out) => {
        const lists = asLabelLists(out, texts.length);
        const ranks = lists.map((labels, index) => {
          if (labels.length !== 1 || labels[0] === undefined) {
            throw badRequest(
              `Model ${model.id} is not a re-ranker: it scores ${labels.length} labels, not 1`,
            );
          }
          return returnText
            ? { index, text: texts[index], score: labels[0].score }
            : { index, score: labels[0].score };
        });
        return ranks.sort((a, b) => b.score - a.score);
      },
    });
  });

  app.post('/predict', TEI, async (request, reply) => {
    const body = objectBody(request);
    const model = ctx.registry.forTask('text-classification', optionalString(body, 'model'));
    const { items, single } = predictInputs(body.inputs);
    const parameters: Record<string, unknown> = {};
    if (optionalBool(body, 'raw_scores', false)) parameters.function_to_apply = 'none';
    if (optionalBool(body, 'truncate', false)) parameters.truncation = true;
    return execute(ctx, request, reply, {
      route: 'predict',
      body,
      model,
      task: 'text-classification',
      inputs: items,
      parameters,
      options: headerOptions(request),
      shape: (out) => {
        const lists = asLabelLists(out, items.length);
        return single ? lists[0] : lists;
      },
    });
  });

  app.post('/tokenize', TEI, async (request: FastifyRequest, reply: FastifyReply) => {
    const body = objectBody(request);
    const id = optionalString(body, 'model');
    const model = id !== undefined ? ctx.registry.get(id) : ctx.registry.list()[0];
    if (!model) throw new HttpError(404, 'no model is served');
    request.hfModel = model.id;
    const texts = stringList(body.inputs, 'inputs', { allowSingle: true });
    const addSpecialTokens = optionalBool(body, 'add_special_tokens', true);
    checkCounts(ctx.config, '', texts, {});
    const tokenizer = ctx.registry.tokenizer(model);
    if (!tokenizer) throw new HttpError(400, `Model ${model.id} has no tokenizer`);
    await checkTokens(ctx.config, tokenizer, '', texts, {});
    const out = await tokenizeForDisplay(tokenizer, texts, addSpecialTokens);
    computeHeaders(ctx, reply, countCharacters(texts));
    return reply.type('application/json; charset=utf-8').send(JSON.stringify(out));
  });
}

/**
 * TEI `/predict` inputs: a string, a pair `[a, b]`, or a batch of `[a]` / `[a, b]` lists.
 * Returns text-classification items (`{text, text_pair}` for pairs).
 */
export function predictInputs(inputs: unknown): {
  items: Array<string | { text: string; text_pair: string }>;
  single: boolean;
} {
  const item = (v: unknown): string | { text: string; text_pair: string } => {
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
      if (v.length === 1) return v[0] as string;
      if (v.length === 2) return { text: v[0] as string, text_pair: v[1] as string };
    }
    throw badRequest(
      '`inputs` must be a string, a pair of strings [string, string] or a batch [[string], [string, string], ...]',
    );
  };
  if (typeof inputs === 'string') return { items: [inputs], single: true };
  if (!Array.isArray(inputs) || inputs.length === 0) return { items: [item(inputs)], single: true };
  if (typeof inputs[0] === 'string') return { items: [item(inputs)], single: true };
  return { items: inputs.map(item), single: false };
}

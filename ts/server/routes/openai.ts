/**
 * OpenAI-compatible `POST /v1/embeddings`: `{input, model?, encoding_format?, dimensions?}` ->
 * `{object: "list", data: [{object: "embedding", embedding, index}], model, usage}`. Vectors are
 * L2-normalised; `encoding_format: "base64"` sends little-endian float32 bytes in base64.
 */
import type { FastifyInstance } from 'fastify';
import type { RouteConfig, ServerContext } from '../context.js';
import { badRequest, HttpError } from '../errors.js';
import { execute } from '../execute.js';
import { checkCounts } from '../limits.js';
import { decodeBody, normalizePayload } from '../payload.js';
import { countTokensOf } from '../tokens.js';

const OPENAI: { config: RouteConfig } = { config: { dialect: 'openai' } };

function toBase64(vector: number[]): string {
  const f32 = Float32Array.from(vector);
  return Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength).toString('base64');
}

export function openaiRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/embeddings', OPENAI, async (request, reply) => {
    const body = decodeBody(request.body as Buffer | undefined, request.headers['content-type']);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest('the request body must be a JSON object');
    }
    const { input, model: modelField, encoding_format: format, dimensions } = body as Record<string, unknown>;
    if (modelField !== undefined && modelField !== null && typeof modelField !== 'string') {
      throw badRequest('`model` must be a string');
    }
    const model = ctx.registry.forTask(
      'feature-extraction',
      (modelField as string | null | undefined) ?? undefined,
    );
    const single = typeof input === 'string';
    const texts = single ? [input as string] : input;
    if (!Array.isArray(texts) || texts.length === 0 || texts.some((t) => typeof t !== 'string')) {
      throw badRequest('`input` must be a string or a non-empty list of strings');
    }
    if (format !== undefined && format !== null && format !== 'float' && format !== 'base64') {
      throw badRequest('`encoding_format` must be "float" or "base64"');
    }
    if (
      dimensions !== undefined &&
      dimensions !== null &&
      (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1)
    ) {
      throw badRequest('`dimensions` must be a positive integer');
    }
    // Limits before the usage count: that count is already work.
    checkCounts(ctx.config, 'feature-extraction', texts, {});
    const tokenizer = ctx.registry.tokenizer(model);
    const promptTokens = tokenizer ? await countTokensOf(tokenizer, texts as string[]) : 0;
    return execute(ctx, request, reply, {
      route: 'v1/embeddings',
      body,
      model,
      task: 'feature-extraction',
      inputs: texts,
      parameters: { normalize: true },
      options: normalizePayload({ inputs: '' }, request.headers).options,
      shape: (out) => {
        const vectors = out as number[][];
        const data = vectors.map((v, index) => {
          if (dimensions !== undefined && dimensions !== null && dimensions !== v.length) {
            throw new HttpError(
              400,
              `\`dimensions\` ${dimensions} is not supported: model ${model.id} embeds into ${v.length} dimensions`,
            );
          }
          return { object: 'embedding', embedding: format === 'base64' ? toBase64(v) : v, index };
        });
        return {
          object: 'list',
          data,
          model: model.id,
          usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
        };
      },
    });
  });
}

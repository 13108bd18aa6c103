/**
 * Runs the rows of one padded batch encoding in bounded chunks. A call with many rows (the
 * windows of a long QA context, a long list of texts to embed) would otherwise be one network
 * run whose activations grow with the whole call; chunks keep each run within a row and token
 * budget and can run concurrently on the engine's workers. Rows are independent, so the
 * stacked outputs are those of a single run.
 */
import type { LoadedModel } from '../runtime/model.js';
import type { TensorLike } from '../runtime/runner.js';
import type { BatchEncoding } from '../tokenizer.js';
import { textFeeds } from './encode.js';

/** Most rows, and most padded tokens (rows x length), in one run. */
export interface ChunkLimits {
  rows: number;
  tokens: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { rows: 32, tokens: 8192 };

/** Rows `[from, to)` of a batch encoding, as views (only what `textFeeds` reads). */
function rowsOf(enc: BatchEncoding, from: number, to: number): BatchEncoding {
  const len = enc.dims[1];
  const view = <T extends { subarray(a: number, b: number): T; length: number }>(a: T): T =>
    a.length === enc.inputIds.length ? a.subarray(from * len, to * len) : a;
  return {
    ...enc,
    inputIds: view(enc.inputIds),
    attentionMask: view(enc.attentionMask),
    tokenTypeIds: view(enc.tokenTypeIds),
    dims: [to - from, len],
  };
}

/** Stacks per-chunk outputs along dim 0. */
function stack(parts: Record<string, TensorLike>[], names: string[]): Record<string, TensorLike> {
  const out: Record<string, TensorLike> = {};
  for (const name of names) {
    const tensors = parts.map((p) => p[name]).filter((t): t is TensorLike => t !== undefined);
    const first = tensors[0];
    if (first === undefined || tensors.length !== parts.length) continue;
    if (tensors.length === 1) {
      out[name] = first;
      continue;
    }
    const rows = tensors.reduce((n, t) => n + (t.dims[0] ?? 0), 0);
    const total = tensors.reduce((n, t) => n + t.data.length, 0);
    const Ctor = first.data.constructor as new (n: number) => TensorLike['data'];
    const data = new Ctor(total);
    let at = 0;
    for (const t of tensors) {
      data.set(t.data as never, at);
      at += t.data.length;
    }
    out[name] = { type: first.type, data, dims: [rows, ...first.dims.slice(1)] };
  }
  return out;
}

/**
 * Runs every row of `enc` through the model and returns `outputs` stacked as one run would.
 * Rows are split into at least as many chunks as the runner runs at once (so a large call uses
 * every worker) and at most `limits` per chunk (by default the runner's `batchLimits`: the
 * engine's batch size and token budget). Chunks run concurrently; an error in any chunk
 * fails the call.
 */
export async function runRows(
  model: LoadedModel,
  enc: BatchEncoding,
  outputs: string[],
  limits: ChunkLimits = model.runner.batchLimits ?? DEFAULT_CHUNK_LIMITS,
): Promise<Record<string, TensorLike>> {
  const [n, len] = enc.dims;
  const lanes = Math.max(1, Math.floor(model.runner.parallelism ?? 1));
  const per = Math.max(
    1,
    Math.min(limits.rows, Math.floor(limits.tokens / Math.max(len, 1)), Math.ceil(n / lanes)),
  );
  if (n <= per) return model.runner.run(textFeeds(model, enc), { outputs });
  const runs: Promise<Record<string, TensorLike>>[] = [];
  for (let from = 0; from < n; from += per) {
    const to = Math.min(n, from + per);
    runs.push(model.runner.run(textFeeds(model, rowsOf(enc, from, to)), { outputs, part: true }));
  }
  return stack(await Promise.all(runs), outputs);
}

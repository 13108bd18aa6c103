/**
 * Runs the rows of one padded batch encoding in bounded chunks. A call with many rows (the
 * windows of a long QA context, a long list of texts to embed) would otherwise be one network
 * run whose activations grow with the whole call; chunks keep each run within a row and token
 * budget and can run concurrently on the engine's workers. Rows are independent, so the
 * stacked outputs are those of a single run.
 */
import { DEFAULT_BATCHING } from '../runtime/batcher.js';
import { DEFAULT_FIXED_TOKENS, partitionByLength } from '../runtime/job-cost.js';
import type { LoadedModel } from '../runtime/model.js';
import type { TensorLike } from '../runtime/runner.js';
import type { BatchEncoding } from '../tokenizer.js';
import { textFeeds } from './encode.js';

/** Most rows, and most padded tokens (rows x length), in one run. */
export interface ChunkLimits {
  rows: number;
  tokens: number;
  /** Largest share of a run's tokens that may be padding when rows are grouped by length. */
  padding?: number;
  /** What one more run costs, in tokens of padding (see `runtime/job-cost.ts`). */
  fixedTokens?: number;
}

/** The engine's own defaults, for runners that state no limits. */
export const DEFAULT_CHUNK_LIMITS: ChunkLimits = {
  rows: DEFAULT_BATCHING.maxBatchSize,
  tokens: DEFAULT_BATCHING.tokenBudget,
  padding: DEFAULT_BATCHING.maxPadding,
};

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

/** Row `r` cut to its real tokens (attention 1), whichever side its padding is on. */
function unpaddedRow(enc: BatchEncoding, r: number): BatchEncoding {
  const len = enc.dims[1];
  let from = len;
  let to = 0;
  for (let j = 0; j < len; j++) {
    if (enc.attentionMask[r * len + j] !== 0n) {
      from = Math.min(from, j);
      to = j + 1;
    }
  }
  if (to <= from) return rowsOf(enc, r, r + 1);
  const cut = (a: BigInt64Array): BigInt64Array =>
    a.length === enc.inputIds.length ? a.slice(r * len + from, r * len + to) : a;
  return {
    ...enc,
    inputIds: cut(enc.inputIds),
    attentionMask: cut(enc.attentionMask),
    tokenTypeIds: cut(enc.tokenTypeIds),
    dims: [1, to - from],
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

/** A group of rows (indexes into the call) of close real lengths, run at its longest length. */
interface LengthGroup {
  rows: number[];
  len: number;
}

/**
 * Real length of each row when every row is right-padded (`1...1 0...0` attention mask), else
 * null (left padding moves the real tokens' positions: such rows are never cut).
 */
function rightPaddedLengths(enc: BatchEncoding): number[] | null {
  const [n, len] = enc.dims;
  const mask = enc.attentionMask;
  if (mask.length !== n * len) return null;
  const lengths: number[] = [];
  for (let r = 0; r < n; r++) {
    let real = 0;
    while (real < len && mask[r * len + real] === 1n) real++;
    for (let k = real; k < len; k++) if (mask[r * len + k] !== 0n) return null;
    if (real === 0) return null;
    lengths.push(real);
  }
  return lengths;
}

/**
 * Rows sorted by real length and cut into groups within the limits (rows, tokens, padding) at the
 * least cost (a run's fixed cost plus its padded tokens), each run at its own longest length, so
 * that the padding a call's own rows carry (texts of different lengths padded to the longest) is
 * not computed where it costs more than a run, and the engine can stack each group with other
 * callers' rows of similar lengths. Null when that does not apply: a runner that does not stack
 * calls, outputs whose sequence axis is not dim 1, left-padded rows, or rows all of one length.
 */
function lengthGroups(
  model: LoadedModel,
  enc: BatchEncoding,
  outputs: string[],
  limits: ChunkLimits,
  lanes: number,
): LengthGroup[] | null {
  const seqAxes = model.runner.outputSeqAxes;
  if (seqAxes === undefined || seqAxes === null) return null;
  for (const name of outputs) {
    const axes = seqAxes[name];
    if (axes === undefined || axes.some((a) => a !== 1)) return null;
  }
  const lengths = rightPaddedLengths(enc);
  if (lengths === null || lengths.every((l) => l === lengths[0])) return null;
  const n = lengths.length;
  const order = lengths.map((_, i) => i).sort((a, b) => (lengths[a] as number) - (lengths[b] as number));
  const sortedLens = order.map((row) => lengths[row] as number);
  const cuts = partitionByLength(
    sortedLens,
    sortedLens.map(() => 1),
    {
      rows: Math.max(1, Math.min(limits.rows, Math.ceil(n / lanes))),
      tokens: limits.tokens,
      padding: limits.padding ?? (DEFAULT_CHUNK_LIMITS.padding as number),
      fixedTokens: limits.fixedTokens ?? DEFAULT_FIXED_TOKENS,
    },
  );
  // Rows come in length order, so a group's length is that of its last row.
  return cuts.map(([from, to]) => ({ rows: order.slice(from, to), len: sortedLens[to - 1] as number }));
}

/** The rows of a group, each cut to the group's length (only what `textFeeds` reads). */
function groupOf(enc: BatchEncoding, group: LengthGroup): BatchEncoding {
  const len = enc.dims[1];
  const g = group.len;
  const cut = (a: BigInt64Array): BigInt64Array => {
    const out = new BigInt64Array(group.rows.length * g);
    group.rows.forEach((row, i) => {
      out.set(a.subarray(row * len, row * len + g), i * g);
    });
    return out;
  };
  return {
    ...enc,
    inputIds: cut(enc.inputIds),
    attentionMask: cut(enc.attentionMask),
    tokenTypeIds: enc.tokenTypeIds.length === enc.inputIds.length ? cut(enc.tokenTypeIds) : enc.tokenTypeIds,
    dims: [group.rows.length, g],
  };
}

/**
 * Puts the groups' outputs back in the call's row order and shape: `[n, ...]`, or `[n, len, ...]`
 * for outputs with a sequence axis, whose positions past a row's group length (padding the
 * call's own run would have computed and nothing reads) are zero.
 */
function ungroup(
  enc: BatchEncoding,
  groups: LengthGroup[],
  results: Record<string, TensorLike>[],
  outputs: string[],
  seqAxes: Readonly<Record<string, readonly number[]>>,
): Record<string, TensorLike> {
  const [n, len] = enc.dims;
  const out: Record<string, TensorLike> = {};
  for (const name of outputs) {
    const tensors = results.map((r) => r[name]);
    const first = tensors[0];
    if (first === undefined || tensors.some((t) => t === undefined)) continue;
    const withSeq = (seqAxes[name] ?? []).length > 0;
    const inner = first.dims.slice(withSeq ? 2 : 1);
    let innerSize = 1;
    for (const d of inner) innerSize *= d;
    const rowSize = (withSeq ? len : 1) * innerSize;
    const Ctor = first.data.constructor as new (n: number) => TensorLike['data'];
    const data = new Ctor(n * rowSize);
    groups.forEach((group, gi) => {
      const t = tensors[gi] as TensorLike;
      const per = t.data.length / group.rows.length;
      group.rows.forEach((row, i) => {
        data.set(t.data.subarray(i * per, (i + 1) * per) as never, row * rowSize);
      });
    });
    out[name] = { type: first.type, data, dims: withSeq ? [n, len, ...inner] : [n, ...inner] };
  }
  return out;
}

/**
 * Runs every row of `enc` through the model and returns `outputs` stacked as one run would.
 * On an engine that stacks calls, rows of different real lengths run in length groups (see
 * `lengthGroups`); otherwise rows are split into at least as many chunks as the runner runs at
 * once (so a large call uses every worker) and at most `limits` per chunk (by default the
 * runner's `batchLimits`: the engine's batch size and token budget). Chunks run concurrently; an error in any chunk
 * fails the call.
 */
export async function runRows(
  model: LoadedModel,
  enc: BatchEncoding,
  outputs: string[],
  limits: ChunkLimits = model.runner.batchLimits ?? DEFAULT_CHUNK_LIMITS,
): Promise<Record<string, TensorLike>> {
  const [n, len] = enc.dims;
  // A model that reads its last position whatever the padding (`unpaddedRows`) runs each row
  // alone and unpadded, as the reference runs it; only outputs without a sequence axis then
  // line up (its classification logits).
  const seqAxes = model.runner.outputSeqAxes ?? {};
  if (model.config.unpaddedRows && n > 1 && outputs.every((o) => (seqAxes[o] ?? []).length === 0)) {
    const rows = Array.from({ length: n }, (_, r) =>
      model.runner.run(textFeeds(model, unpaddedRow(enc, r)), { outputs, part: true }),
    );
    return stack(await Promise.all(rows), outputs);
  }
  const lanes = Math.max(1, Math.floor(model.runner.parallelism ?? 1));
  const groups = n > 1 ? lengthGroups(model, enc, outputs, limits, lanes) : null;
  if (groups !== null) {
    const part = groups.length > 1;
    const results = await Promise.all(
      groups.map((g) => model.runner.run(textFeeds(model, groupOf(enc, g)), { outputs, part })),
    );
    return ungroup(enc, groups, results, outputs, model.runner.outputSeqAxes ?? {});
  }
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

/**
 * Tensor side of dynamic batching: which graphs can be batched across callers, how the feeds
 * of several calls are right-padded and stacked into one batch, and how the batch's outputs
 * are cut back into per-call results. Pure functions; the scheduler (batcher.ts) decides what
 * goes together, and these run wherever the network runs (a worker or the calling thread).
 */
import type { ModelRunner, RunOptions, TensorLike } from './runner.js';

/** A graph input or output declaration: element type and shape (numbers or symbolic names). */
export interface ValueInfo {
  readonly name: string;
  readonly isTensor?: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}

/** How a batchable graph stacks: its token inputs and where each output carries the sequence. */
export interface BatchLayout {
  /** The `[batch, seq]` int64 token inputs, in graph order. */
  readonly inputs: readonly string[];
  /** Per output: the axes (>= 1) sized by the input sequence length, trimmed per call. */
  readonly seqAxes: Readonly<Record<string, readonly number[]>>;
  /** The value each input is right-padded with. */
  readonly padValues: Readonly<Record<string, bigint>>;
}

/** Token inputs the batcher knows how to pad, and the value each one is padded with. */
const TOKEN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids', 'position_ids']);

/**
 * Decides whether calls to a graph can be stacked: every input is an int64 `[batch, seq]`
 * token tensor (input_ids, attention_mask, token_type_ids, position_ids) sharing the same symbolic batch and
 * sequence dims, there is an attention mask (so padding is invisible to the real positions),
 * and every output carries the batch in dim 0 with its other dims either fixed or the
 * sequence dim. Returns null when the graph must run call by call.
 */
export function batchLayout(
  inputs: readonly ValueInfo[],
  outputs: readonly ValueInfo[],
  padTokenId = 0,
): BatchLayout | null {
  if (inputs.length === 0 || outputs.length === 0) return null;
  let batchDim: string | undefined;
  let seqDim: string | undefined;
  const names: string[] = [];
  for (const input of inputs) {
    if (!TOKEN_INPUTS.has(input.name) || input.isTensor === false || input.type !== 'int64') return null;
    const shape = input.shape;
    if (shape === undefined || shape.length !== 2) return null;
    const [b, s] = shape;
    if (typeof b !== 'string' || typeof s !== 'string' || b === '' || s === '' || b === s) return null;
    if (batchDim === undefined) {
      batchDim = b;
      seqDim = s;
    } else if (b !== batchDim || s !== seqDim) {
      return null;
    }
    names.push(input.name);
  }
  if (!names.includes('attention_mask')) return null;
  const seqAxes: Record<string, number[]> = {};
  for (const output of outputs) {
    const shape = output.shape;
    if (output.isTensor === false || shape === undefined || shape.length === 0 || shape[0] !== batchDim) {
      return null;
    }
    const axes: number[] = [];
    for (let i = 1; i < shape.length; i++) {
      const d = shape[i];
      if (d === seqDim) axes.push(i);
      else if (typeof d !== 'number') return null;
    }
    seqAxes[output.name] = axes;
  }
  const padValues: Record<string, bigint> = {};
  for (const name of names) padValues[name] = name === 'input_ids' ? BigInt(padTokenId) : 0n;
  return { inputs: names, seqAxes, padValues };
}

/** `[rows, len]` of a call whose feeds fit the layout, or null when it must run on its own. */
export function callShape(
  layout: BatchLayout,
  feeds: Record<string, TensorLike>,
  opts?: RunOptions,
): { rows: number; len: number } | null {
  const keys = Object.keys(feeds);
  if (keys.length !== layout.inputs.length) return null;
  let rows = -1;
  let len = -1;
  for (const name of layout.inputs) {
    const t = feeds[name];
    if (t === undefined || t.type !== 'int64' || !(t.data instanceof BigInt64Array) || t.dims.length !== 2) {
      return null;
    }
    const [r, l] = t.dims as [number, number];
    if (!Number.isInteger(r) || !Number.isInteger(l) || r < 1 || l < 1 || t.data.length !== r * l)
      return null;
    if (rows === -1) {
      rows = r;
      len = l;
    } else if (r !== rows || l !== len) {
      return null;
    }
  }
  if (opts?.outputs !== undefined) {
    for (const name of opts.outputs) if (layout.seqAxes[name] === undefined) return null;
  }
  return { rows, len };
}

/** One call of a batch: its feeds and `[rows, len]` (from `callShape`). */
export interface BatchPart {
  feeds: Record<string, TensorLike>;
  rows: number;
  len: number;
}

/** Right-pads every part's token inputs to the longest part and stacks them along dim 0. */
export function packBatch(layout: BatchLayout, parts: readonly BatchPart[]): Record<string, TensorLike> {
  let rows = 0;
  let len = 0;
  for (const p of parts) {
    rows += p.rows;
    if (p.len > len) len = p.len;
  }
  const feeds: Record<string, TensorLike> = {};
  for (const name of layout.inputs) {
    const out = new BigInt64Array(rows * len);
    const pad = layout.padValues[name] ?? 0n;
    if (pad !== 0n) out.fill(pad);
    let row = 0;
    for (const p of parts) {
      const src = (p.feeds[name] as TensorLike).data as BigInt64Array;
      if (p.len === len) {
        out.set(src, row * len);
      } else {
        for (let r = 0; r < p.rows; r++) {
          out.set(src.subarray(r * p.len, (r + 1) * p.len), (row + r) * len);
        }
      }
      row += p.rows;
    }
    feeds[name] = { type: 'int64', data: out, dims: [rows, len] };
  }
  return feeds;
}

type AnyArray = TensorLike['data'];

/** A fresh array of the same kind as `like`, `n` elements long. */
function allocLike(like: AnyArray, n: number): AnyArray {
  const Ctor = like.constructor as new (n: number) => AnyArray;
  return new Ctor(n);
}

/**
 * Copies the block `[start_0 .. start_0+size_0) x [0 .. size_i)` out of a row-major tensor:
 * rows from `start0`, and every other axis from 0 (sizes may be smaller than the dims, which
 * trims padded sequence positions).
 */
export function sliceBlock(t: TensorLike, start0: number, sizes: readonly number[]): TensorLike {
  const dims = t.dims;
  const rank = dims.length;
  // The innermost axes that are taken whole form one contiguous run per outer index.
  let k = rank - 1;
  while (k > 0 && sizes[k] === dims[k]) k--;
  let inner = 1;
  for (let i = k + 1; i < rank; i++) inner *= dims[i] as number;
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = (strides[i + 1] as number) * (dims[i + 1] as number);
  let total = 1;
  for (const s of sizes) total *= s;
  const out = allocLike(t.data, total);
  if (total === 0) return { type: t.type, data: out, dims: [...sizes] };
  const run = (sizes[k] as number) * inner;
  const base = start0 * (strides[0] as number);
  if (k === 0) {
    out.set(t.data.subarray(base, base + run) as never);
    return { type: t.type, data: out, dims: [...sizes] };
  }
  // Odometer over axes 0..k-1 (within their sizes); each step copies one run of axis k.
  const idx = new Array<number>(k).fill(0);
  let dst = 0;
  for (;;) {
    let src = base;
    for (let i = 0; i < k; i++) src += (idx[i] as number) * (strides[i] as number);
    out.set(t.data.subarray(src, src + run) as never, dst);
    dst += run;
    let i = k - 1;
    while (i >= 0) {
      idx[i] = (idx[i] as number) + 1;
      if ((idx[i] as number) < (sizes[i] as number)) break;
      idx[i] = 0;
      i--;
    }
    if (i < 0) break;
  }
  return { type: t.type, data: out, dims: [...sizes] };
}

/** Cuts a batch's outputs back into one result per part: its rows, its own sequence length. */
export function unpackBatch(
  layout: BatchLayout,
  outputs: Record<string, TensorLike>,
  parts: readonly BatchPart[],
): Record<string, TensorLike>[] {
  const results: Record<string, TensorLike>[] = parts.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    const axes = layout.seqAxes[name] ?? [];
    let row = 0;
    parts.forEach((p, i) => {
      const sizes = t.dims.map((d, axis) => (axis === 0 ? p.rows : axes.includes(axis) ? p.len : d));
      (results[i] as Record<string, TensorLike>)[name] = sliceBlock(t, row, sizes);
      row += p.rows;
    });
  }
  return results;
}

/** A unit of work for a runner: one call on its own, or several calls stacked into one batch. */
export interface Job {
  /** The calls' feeds; more than one only when `layout` stacks them. */
  parts: BatchPart[];
  /** Present when the parts are stacked into one batch. */
  layout?: BatchLayout;
  outputs?: string[];
  /** Nothing else was running or waiting when the job was sent (it may use every core). */
  alone?: boolean;
}

/** Filled in by an executor that can time a job where it runs. */
export interface JobTiming {
  /** Milliseconds the job itself took (no queue wait, no thread hops). */
  runMs?: number;
}

/** Runs a job on a runner: one call as is, or pack, run once and unpack. */
export async function runJob(runner: ModelRunner, job: Job): Promise<Record<string, TensorLike>[]> {
  const opts: RunOptions = job.outputs === undefined ? {} : { outputs: job.outputs };
  const first = job.parts[0];
  if (job.layout === undefined || first === undefined) {
    if (job.parts.length !== 1 || first === undefined)
      throw new RangeError('an unbatched job holds one call');
    return [await runner.run(first.feeds, opts)];
  }
  if (job.parts.length === 1) return [await runner.run(first.feeds, opts)];
  const outputs = await runner.run(packBatch(job.layout, job.parts), opts);
  return unpackBatch(job.layout, outputs, job.parts);
}

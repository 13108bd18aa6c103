/**
 * The decode loop's cache tensors and the row/column moves continuous batching makes on them:
 * rows taken in a new order (beam reorders, rows leaving, a prompt's cache copied per beam),
 * the sequence axis cut (padding no row needs any more) and two batches joined (the shorter
 * padded with zero columns). A cache is either a host Float32Array, moved here, or a tensor
 * kept on the device, moved by helper graphs on the device (runtime/device-tensor.ts) so that
 * it never travels through host memory. A group of tensors moved together is all one kind.
 */
import { ModelError } from '../errors.js';
import { type DeviceOps, type DeviceTensor, isDeviceTensor } from '../runtime/device-tensor.js';

/** One cache tensor: [rows, heads, width, headDim] (an encoder output as heads = 1). */
export type CacheTensor = Float32Array | DeviceTensor;

/** The fixed dims of a cache tensor. */
export interface CacheDims {
  heads: number;
  headDim: number;
}

/** Frees device tensors (host arrays are left to the garbage collector). */
export function freeCaches(cs: Iterable<CacheTensor | null | undefined>): void {
  for (const c of cs) if (isDeviceTensor(c)) c.dispose();
}

/** Frees the tensors of `old` that `kept` does not hold any more. */
export function replaceCaches(old: readonly CacheTensor[], kept: readonly CacheTensor[]): void {
  const still = new Set(kept);
  freeCaches(old.filter((c) => !still.has(c)));
}

function deviceGroup(cs: readonly CacheTensor[], ops: DeviceOps | null): DeviceTensor[] | null {
  const device = cs.filter(isDeviceTensor);
  if (device.length === 0) return null;
  if (device.length !== cs.length || ops === null) {
    throw new ModelError('ERR_INTERNAL', 'a cache group mixes device and host tensors');
  }
  return device;
}

/**
 * Rows `rows` (in that order, out of `count`) of each [count, heads, width, headDim] tensor,
 * cut to the columns [from, to). The same tensors when nothing moves; otherwise new ones (the
 * inputs stay: free them with `replaceCaches`).
 */
export async function takeCaches(
  cs: readonly CacheTensor[],
  dims: readonly CacheDims[],
  count: number,
  rows: readonly number[],
  width: number,
  from: number,
  to: number,
  ops: DeviceOps | null,
): Promise<CacheTensor[]> {
  const identity = rows.length === count && rows.every((r, i) => r === i) && from === 0 && to === width;
  if (identity || cs.length === 0) return [...cs];
  const device = deviceGroup(cs, ops);
  if (device !== null) return (ops as DeviceOps).take(device, rows, from, to);
  return cs.map((c, i) => takeHost(c as Float32Array, dims[i] as CacheDims, rows, width, from, to));
}

/**
 * Each a_i ([rowsA, heads, widthA, headDim]) stacked over b_i ([rowsB, heads, widthB, headDim])
 * at `to` columns: zero columns on the left (`side: 'left'`, left-padded self-attention caches)
 * or on the right (encoder outputs and cross-attention caches). New tensors; the inputs stay.
 */
export async function joinCaches(
  as: readonly CacheTensor[],
  bs: readonly CacheTensor[],
  dims: readonly CacheDims[],
  rowsA: number,
  rowsB: number,
  widthA: number,
  widthB: number,
  to: number,
  side: 'left' | 'right',
  ops: DeviceOps | null,
): Promise<CacheTensor[]> {
  if (as.length !== bs.length) throw new ModelError('ERR_INTERNAL', 'joined caches differ in count');
  if (as.length === 0) return [];
  const da = deviceGroup(as, ops);
  const db = deviceGroup(bs, ops);
  if ((da === null) !== (db === null)) {
    throw new ModelError('ERR_INTERNAL', 'a device cache joined with a host cache');
  }
  if (da !== null && db !== null) {
    const pad = (w: number): [number, number] => (side === 'left' ? [to - w, 0] : [0, to - w]);
    return (ops as DeviceOps).join(da, db, pad(widthA), pad(widthB));
  }
  return as.map((a, i) => {
    const d = dims[i] as CacheDims;
    const left = widen(a as Float32Array, rowsA, d, widthA, to, side);
    const right = widen(bs[i] as Float32Array, rowsB, d, widthB, to, side);
    const out = new Float32Array(left.length + right.length);
    out.set(left, 0);
    out.set(right, left.length);
    return out;
  });
}

/** Rows `rows` of a host cache, columns [from, to) of each. */
function takeHost(
  c: Float32Array,
  d: CacheDims,
  rows: readonly number[],
  width: number,
  from: number,
  to: number,
): Float32Array {
  const rowSize = d.heads * width * d.headDim;
  const gathered = new Float32Array(rows.length * rowSize);
  rows.forEach((s, i) => {
    gathered.set(c.subarray(s * rowSize, (s + 1) * rowSize), i * rowSize);
  });
  if (from === 0 && to === width) return gathered;
  const narrow = (to - from) * d.headDim;
  const block = width * d.headDim;
  const out = new Float32Array(rows.length * d.heads * narrow);
  for (let b = 0; b < rows.length * d.heads; b++) {
    out.set(gathered.subarray(b * block + from * d.headDim, b * block + to * d.headDim), b * narrow);
  }
  return out;
}

/** Widens every row's [width, headDim] blocks to `to` columns with zero columns on `side`. */
function widen(
  c: Float32Array,
  rows: number,
  d: CacheDims,
  width: number,
  to: number,
  side: 'left' | 'right',
): Float32Array {
  if (to === width) return c;
  const out = new Float32Array(rows * d.heads * to * d.headDim);
  const block = width * d.headDim;
  const wide = to * d.headDim;
  const shift = side === 'left' ? (to - width) * d.headDim : 0;
  for (let b = 0; b < rows * d.heads; b++) {
    out.set(c.subarray(b * block, (b + 1) * block), b * wide + shift);
  }
  return out;
}

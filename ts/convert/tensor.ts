/**
 * Tensors read from published weight files, as float32 values in the checkpoint's layout
 * (row-major, transformers' shapes), plus the half-precision conversions the readers share.
 */
import { ModelError } from '../errors.js';

export interface SourceTensor {
  /** Row-major float32 values. */
  data: Float32Array;
  /** Dimensions, outermost first (torch order). */
  shape: number[];
}

/** A named-tensor store: `get` returns a tensor by its transformers checkpoint name. */
export interface TensorSource {
  /** Checkpoint names the source holds. */
  names(): string[];
  get(name: string): SourceTensor;
}

/** A published weight file that cannot be read or does not fit the graph (`ERR_MODEL_FILE`). */
export function conversionError(message: string): ModelError {
  return new ModelError('ERR_MODEL_FILE', message);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half -> float32 value (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 -> float32 value (exact). */
export function bf16ToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0] ?? 0;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

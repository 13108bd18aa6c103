/**
 * The execution seam. Task code never calls onnxruntime directly: it hands whole batches of
 * tensors to a `ModelRunner` and reads tensors back. The inline runner (session.ts) runs them
 * on an onnxruntime-node InferenceSession in the calling thread; a worker pool or a
 * cross-caller batcher implements the same interface, so tasks do not change with the engine.
 */

/** Element types that cross the seam. */
export type TensorType = 'int64' | 'float32' | 'int32' | 'bool';

/** The typed array each element type is carried in (`bool` as 0/1 bytes). */
export interface TensorData {
  int64: BigInt64Array;
  float32: Float32Array;
  int32: Int32Array;
  bool: Uint8Array;
}

/** A dense row-major tensor. Batched feeds carry the batch along dim 0 (`[batch, seq]`). */
export interface TensorLike {
  type: TensorType;
  data: BigInt64Array | Float32Array | Int32Array | Uint8Array;
  dims: number[];
}

/** Per-call options of `ModelRunner.run`. */
export interface RunOptions {
  /** Output names to fetch; all outputs when absent. */
  outputs?: string[];
  /**
   * Gives the call up: a call still waiting in the engine's queue is dropped and rejects with
   * the signal's reason; a call already running finishes. Runners without a queue ignore it.
   */
  signal?: AbortSignal;
  /**
   * The call is one of several parts of one request run at the same time (the chunks of a
   * large call): it never takes the engine's all-cores solo session, which is for a call that
   * runs alone.
   */
  part?: boolean;
}

/** Something that runs a loaded network on named input tensors. */
export interface ModelRunner {
  /** The graph's input names, in graph order. */
  readonly inputNames: string[];
  /** The graph's output names, in graph order. */
  readonly outputNames: string[];
  /**
   * How many runs can execute at once (the engine's worker count; 1 when absent). Callers with
   * many rows split them into this many chunks so that the chunks run in parallel.
   */
  readonly parallelism?: number;
  /**
   * The most rows, and padded tokens (rows x length), one run should hold (the engine's
   * `batching.maxBatchSize` and `batching.tokenBudget`). Callers with more rows run them in
   * chunks of at most this size; absent: 32 rows and 8192 tokens. `padding` is the largest
   * padding share of a run and `fixedTokens` what one more run costs, in tokens.
   */
  readonly batchLimits?: { rows: number; tokens: number; padding?: number; fixedTokens?: number };
  /**
   * Runners that stack calls of different lengths (the engine's batcher): each output's
   * sequence axes (none for `[batch, ...]` outputs). Absent or null: calls are not stacked.
   */
  readonly outputSeqAxes?: Readonly<Record<string, readonly number[]>> | null;
  /**
   * Runs the network once on a batch. A result must not depend on how the engine batches
   * calls: the same rows give the same outputs whatever else runs with them.
   */
  run(feeds: Record<string, TensorLike>, opts?: RunOptions): Promise<Record<string, TensorLike>>;
  /** Frees the session(s). The runner must not be used afterwards. */
  dispose(): Promise<void>;
}

/** Builds an int64 tensor from a typed array and its dims. */
export function int64Tensor(data: BigInt64Array, dims: number[]): TensorLike {
  return { type: 'int64', data, dims };
}

/** Builds a float32 tensor from a typed array and its dims. */
export function float32Tensor(data: Float32Array, dims: number[]): TensorLike {
  return { type: 'float32', data, dims };
}

/** Number of elements a tensor of `dims` holds. */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

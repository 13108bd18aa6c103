/**
 * The messages between the pool (main thread) and its workers, and how errors and tensors
 * cross: errors as {name, code, message} revived into the same typed classes, result tensors
 * by transferring their ArrayBuffers (no copy).
 */
import {
  DeviceUnavailableError,
  HfTasksError,
  InvalidInputError,
  ModelError,
  NativeError,
  QueueFullError,
  WorkerCrashedError,
} from '../errors.js';
import type { Job, ValueInfo } from './batch.js';
import type { TensorLike } from './runner.js';
import type { Device, SessionRunnerOptions } from './session.js';

/** What a worker reports about a model it opened. */
export interface ModelInfo {
  inputNames: string[];
  outputNames: string[];
  inputMetadata: ValueInfo[];
  outputMetadata: ValueInfo[];
  device: Device;
}

/** Fault kinds a worker started with `faultInjection` can be told to simulate on its next run. */
export type Fault = 'throw' | 'exit';

export type ToWorker =
  | { type: 'load'; req: number; key: number; modelPath: string; options: SessionRunnerOptions }
  | { type: 'unload'; req: number; key: number }
  | { type: 'run'; req: number; key: number; job: Job }
  | { type: 'fault'; fault: Fault }
  | { type: 'close' };

export interface WireError {
  name: string;
  code?: string;
  message: string;
}

export type FromWorker =
  | { type: 'loaded'; req: number; info: ModelInfo }
  | { type: 'done'; req: number }
  /** `ms`: how long the job ran in the worker (padding, the session run and the cut). */
  | { type: 'result'; req: number; results: Record<string, TensorLike>[]; ms: number }
  | { type: 'error'; req: number; error: WireError };

/** Flattens an error for postMessage. */
export function toWire(err: unknown): WireError {
  if (err instanceof HfTasksError) return { name: err.name, code: err.code, message: err.message };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/** Rebuilds a worker's error as the same typed class, with the same code and message. */
export function fromWire(e: WireError): Error {
  const code = e.code ?? 'ERR_INTERNAL';
  switch (e.name) {
    case 'DeviceUnavailableError':
      return new DeviceUnavailableError(code, e.message);
    case 'ModelError':
      return new ModelError(code, e.message);
    case 'InvalidInputError':
      return new InvalidInputError(code, e.message);
    case 'NativeError':
      return new NativeError(code, e.message);
    case 'QueueFullError':
      return new QueueFullError(e.message);
    case 'WorkerCrashedError':
      return new WorkerCrashedError(e.message);
    default:
      if (e.code !== undefined) return new HfTasksError(e.code, e.message);
      return new ModelError('ERR_INTERNAL', `${e.name}: ${e.message}`);
  }
}

/** The distinct transferable buffers behind a list of results. */
export function transferList(results: Record<string, TensorLike>[]): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const r of results) {
    for (const t of Object.values(r)) {
      const buf = t.data.buffer;
      if (buf instanceof ArrayBuffer && buf.byteLength > 0) seen.add(buf);
    }
  }
  return [...seen];
}

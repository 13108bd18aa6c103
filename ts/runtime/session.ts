/**
 * The inline `ModelRunner`: one onnxruntime-node InferenceSession, run in the calling thread.
 * Execution providers, session options, the CUDA opt-in and the WebGPU device live here.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DeviceUnavailableError, HfTasksError, ModelError } from '../errors.js';
import { DEVICES, type Device, gpuProviderOf, webgpuRequirements } from './device.js';
import { DeviceOps, DeviceTensor, disposeLiveDeviceTensors, isDeviceTensor } from './device-tensor.js';
import type { ModelRunner, RunOptions, TensorLike } from './runner.js';

export { DEVICES, type Device, gpuProviderOf, isGpuDevice, webgpuRequirements } from './device.js';

/** onnxruntime session options exposed to callers (camelCase as onnxruntime-node spells them). */
export interface SessionOptions {
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  executionMode?: 'sequential' | 'parallel';
  /** Explicit execution providers; when given they replace the ones `device` picks. */
  executionProviders?: Array<'cpu' | 'cuda' | 'webgpu' | { name: string; [key: string]: unknown }>;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * onnxruntime session configuration entries, by their full key (e.g.
   * `'session.intra_op.allow_spinning': '0'`, or `'session.force_spinning_stop': '1'` so that a
   * multi-threaded session's threads stop spinning when a run ends: less CPU taken from other
   * work between runs, at the cost of waking them at the next run; measured here at about
   * 0.6 ms more per lone call on the all-cores solo session, so the engine leaves it off).
   */
  configEntries?: Record<string, string>;
}

/** How to open a session. */
export interface SessionRunnerOptions {
  /** `cpu` (default), `webgpu` or `cuda`. */
  device?: Device;
  /** With a GPU device, fall back to the CPU instead of failing when the GPU is unusable. */
  deviceFallback?: boolean;
  sessionOptions?: SessionOptions;
  /**
   * Outputs that stay on the device between runs when the session runs on WebGPU (onnxruntime's
   * `preferredOutputLocation: 'gpu-buffer'`): `runOnDevice` returns them as `DeviceTensor`s,
   * `run` copies them to host memory. Ignored on other devices (a CPU fallback included).
   */
  deviceOutputs?: string[];
}

export const CUDA_INSTALL_HINT =
  'install the CUDA execution provider with `node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12` (needs CUDA 12 and cuDNN 9)';

/** The folder holding onnxruntime-node's native binaries for this platform. */
function ortBinaryDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('onnxruntime-node');
    return path.join(path.dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/** Whether onnxruntime-node's CUDA execution provider binaries are installed. */
export function cudaProviderInstalled(): boolean {
  const dir = ortBinaryDir();
  if (dir === null) return false;
  const lib =
    process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return existsSync(path.join(dir, lib));
}

function validateSessionOptions(o: SessionOptions): void {
  for (const key of ['intraOpNumThreads', 'interOpNumThreads'] as const) {
    const v = o[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) {
      throw new HfTasksError('ERR_INVALID_ARGUMENT', `sessionOptions.${key} must be a non-negative integer`);
    }
  }
  const entries = o.configEntries;
  if (entries !== undefined) {
    if (entries === null || typeof entries !== 'object' || Array.isArray(entries))
      throw new HfTasksError(
        'ERR_INVALID_ARGUMENT',
        'sessionOptions.configEntries must be an object of strings',
      );
    for (const [key, value] of Object.entries(entries)) {
      if (typeof value !== 'string' || key === '')
        throw new HfTasksError(
          'ERR_INVALID_ARGUMENT',
          `sessionOptions.configEntries[${JSON.stringify(key)}] must be a string (got ${typeof value})`,
        );
    }
  }
  const level = o.graphOptimizationLevel;
  if (level !== undefined && !['disabled', 'basic', 'extended', 'all'].includes(level)) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `sessionOptions.graphOptimizationLevel must be one of disabled, basic, extended, all (got ${String(level)})`,
    );
  }
}

function toOrtOptions(
  o: SessionOptions,
  providers: InferenceSessionProviders,
): ort.InferenceSession.SessionOptions {
  const out: ort.InferenceSession.SessionOptions = { executionProviders: providers };
  if (o.graphOptimizationLevel !== undefined) out.graphOptimizationLevel = o.graphOptimizationLevel;
  if (o.intraOpNumThreads !== undefined) out.intraOpNumThreads = o.intraOpNumThreads;
  if (o.interOpNumThreads !== undefined) out.interOpNumThreads = o.interOpNumThreads;
  if (o.enableCpuMemArena !== undefined) out.enableCpuMemArena = o.enableCpuMemArena;
  if (o.enableMemPattern !== undefined) out.enableMemPattern = o.enableMemPattern;
  if (o.executionMode !== undefined) out.executionMode = o.executionMode;
  out.logSeverityLevel = o.logSeverityLevel ?? 3;
  if (o.configEntries !== undefined && Object.keys(o.configEntries).length > 0)
    out.extra = { ...o.configEntries };
  return out;
}

type InferenceSessionProviders = NonNullable<ort.InferenceSession.SessionOptions['executionProviders']>;

function providersFor(device: Device, o: SessionOptions): InferenceSessionProviders {
  if (o.executionProviders !== undefined) return o.executionProviders as InferenceSessionProviders;
  if (device === 'cuda') return ['cuda', 'cpu'];
  // The CPU provider runs what WebGPU does not (shape and mask plumbing).
  if (device === 'webgpu') return [{ name: 'webgpu' }, 'cpu'];
  return ['cpu'];
}

/** Whether a session-creation error comes from the WebGPU provider (no adapter, no Vulkan, ...). */
function isWebgpuFailure(message: string): boolean {
  return /webgpu|adapter|vulkan|dawn/i.test(message);
}

/** The useful tail of onnxruntime's WebGPU error (it starts with a source path and a lambda). */
function webgpuReason(message: string): string {
  const tail = /was false\.\s*(.+)$/s.exec(message)?.[1] ?? message;
  return tail.replace(/^cannot load .*?: /s, '').trim();
}

/** Converts an onnxruntime output tensor to the seam's element types. */
function fromOrt(name: string, t: ort.Tensor): TensorLike {
  const dims = [...t.dims];
  switch (t.type) {
    case 'float32':
      return { type: 'float32', data: t.data as Float32Array, dims };
    case 'float64':
      return { type: 'float32', data: Float32Array.from(t.data as Float64Array), dims };
    case 'float16':
      return { type: 'float32', data: halfToFloat(t.data as Uint16Array), dims };
    case 'int64':
      return { type: 'int64', data: t.data as BigInt64Array, dims };
    case 'int32':
      return { type: 'int32', data: t.data as Int32Array, dims };
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
      return { type: 'int32', data: Int32Array.from(t.data as Int8Array), dims };
    case 'bool':
      return { type: 'bool', data: t.data as Uint8Array, dims };
    default:
      throw new ModelError('ERR_MODEL_RUN', `output ${name} has an unsupported element type ${t.type}`);
  }
}

/** IEEE 754 half -> single precision. */
function halfToFloat(src: Uint16Array | Float32Array): Float32Array {
  if (src instanceof Float32Array) return src;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i] as number;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * 2 ** -14 * (frac / 1024);
    else if (exp === 0x1f) out[i] = frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else out[i] = sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return out;
}

/** Converts a feed to what the graph declares (int64 ids into an int32 graph, and back). */
function toOrt(name: string, t: TensorLike | DeviceTensor, expected: string | undefined): ort.Tensor {
  if (isDeviceTensor(t)) {
    if (expected !== undefined && expected !== 'float32') {
      throw new ModelError(
        'ERR_MODEL_RUN',
        `input ${name} is a float32 device tensor but the model expects ${expected}`,
      );
    }
    return t.tensor;
  }
  if (expected === 'int32' && t.type === 'int64') {
    return new ort.Tensor('int32', Int32Array.from(t.data as BigInt64Array, Number), t.dims);
  }
  if (expected === 'int64' && t.type === 'int32') {
    return new ort.Tensor('int64', BigInt64Array.from(t.data as Int32Array, BigInt), t.dims);
  }
  if (expected !== undefined && expected !== t.type) {
    throw new ModelError('ERR_MODEL_RUN', `input ${name} is ${t.type} but the model expects ${expected}`);
  }
  return new ort.Tensor(t.type, t.data, t.dims);
}

/** Frees an onnxruntime device tensor that no `DeviceTensor` holds. */
function disposeOrt(t: ort.Tensor): void {
  try {
    t.dispose();
  } catch {
    // Already freed.
  }
}

/**
 * Sessions open in this thread. A WebGPU session still open when the process exits was seen to
 * end the process with SIGSEGV (the GPU context is torn down under it), so whatever was not
 * disposed is released when the thread exits: onnxruntime-node frees a session synchronously.
 */
const openSessions = new Set<ort.InferenceSession>();
let exitHookInstalled = false;

function trackSession(session: ort.InferenceSession): void {
  openSessions.add(session);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', releaseOpenSessions);
  }
}

function untrackSession(session: ort.InferenceSession): void {
  openSessions.delete(session);
}

/**
 * Releases every session still open in this thread (runners on them fail afterwards), after
 * freeing the device tensors still alive.
 */
export function releaseOpenSessions(): void {
  disposeLiveDeviceTensors();
  const sessions = [...openSessions];
  openSessions.clear();
  for (const s of sessions) {
    try {
      // The native release happens before release() returns its promise.
      void s.release().catch(() => undefined);
    } catch {
      // Already released.
    }
  }
}

/** How many sessions are open in this thread. */
export function openSessionCount(): number {
  return openSessions.size;
}

/** A `ModelRunner` over one onnxruntime-node InferenceSession, run inline. */
export class SessionRunner implements ModelRunner {
  readonly inputNames: string[];
  readonly outputNames: string[];
  /** The execution provider that serves the session (`cpu`, `webgpu` or `cuda`). */
  readonly device: Device;
  /** The graph's input and output declarations (element type, shape with symbolic dims). */
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  /** The outputs this session keeps on the device (`deviceOutputs` on WebGPU; else none). */
  readonly deviceOutputs: readonly string[];
  /** Runs fed at least one device tensor. */
  deviceFedRuns = 0;
  readonly #session: ort.InferenceSession;
  readonly #inputTypes: Map<string, string>;
  readonly #ops: DeviceOps | null;
  #disposed = false;

  private constructor(
    session: ort.InferenceSession,
    device: Device,
    deviceOutputs: readonly string[] = [],
    providers: InferenceSessionProviders = [],
  ) {
    this.#session = session;
    this.device = device;
    this.deviceOutputs = [...deviceOutputs];
    this.#ops = deviceOutputs.length > 0 ? new DeviceOps(providers, trackSession, untrackSession) : null;
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
    this.inputMetadata = [...session.inputMetadata];
    this.outputMetadata = [...session.outputMetadata];
    this.#inputTypes = new Map();
    for (const m of session.inputMetadata) {
      if (m.isTensor) this.#inputTypes.set(m.name, m.type);
    }
  }

  /** Opens `modelPath` with the device and session options asked for. */
  static async create(modelPath: string, options: SessionRunnerOptions = {}): Promise<SessionRunner> {
    const device = options.device ?? 'cpu';
    if (!DEVICES.includes(device)) {
      throw new HfTasksError(
        'ERR_INVALID_ARGUMENT',
        `device must be one of ${DEVICES.map((d) => `'${d}'`).join(', ')} (got ${String(device)})`,
      );
    }
    const sessionOptions = options.sessionOptions ?? {};
    validateSessionOptions(sessionOptions);
    const providers = providersFor(device, sessionOptions);
    const gpu = gpuProviderOf(providers as Array<string | { name: string }>);
    const onCpu = () => SessionRunner.#open(modelPath, toOrtOptions(sessionOptions, ['cpu']), 'cpu');
    if (gpu === 'cuda') {
      if (!cudaProviderInstalled()) {
        const err = new DeviceUnavailableError(
          'ERR_DEVICE_UNAVAILABLE',
          `device 'cuda' asked for, but onnxruntime-node's CUDA execution provider is not installed: ${CUDA_INSTALL_HINT}`,
        );
        if (!options.deviceFallback) throw err;
        return onCpu();
      }
      try {
        return await SessionRunner.#open(modelPath, toOrtOptions(sessionOptions, providers), 'cuda');
      } catch (cause) {
        if (options.deviceFallback) return onCpu();
        if (cause instanceof ModelError && cause.code === 'ERR_MODEL_LOAD' && !/cuda/i.test(cause.message)) {
          throw cause;
        }
        throw new DeviceUnavailableError(
          'ERR_DEVICE_UNAVAILABLE',
          `device 'cuda' could not be initialised (${(cause as Error).message}); check the GPU driver, CUDA 12 and cuDNN 9, or ${CUDA_INSTALL_HINT}`,
          { cause },
        );
      }
    }
    if (gpu === 'webgpu') {
      const deviceOutputs = [...new Set(options.deviceOutputs ?? [])];
      const ortOptions = toOrtOptions(sessionOptions, providers);
      if (deviceOutputs.length > 0) {
        ortOptions.preferredOutputLocation = Object.fromEntries(
          deviceOutputs.map((name) => [name, 'gpu-buffer' as const]),
        );
      }
      try {
        return await SessionRunner.#open(modelPath, ortOptions, 'webgpu', deviceOutputs, providers);
      } catch (cause) {
        // A missing or broken model file is the model's fault, whatever the device.
        if (!(cause instanceof ModelError) || !isWebgpuFailure(cause.message)) throw cause;
        if (options.deviceFallback) return onCpu();
        throw new DeviceUnavailableError(
          'ERR_DEVICE_UNAVAILABLE',
          `device 'webgpu' asked for, but no WebGPU adapter is available (${webgpuReason(cause.message)}); ${webgpuRequirements()}; or pass deviceFallback to run on the CPU`,
          { cause },
        );
      }
    }
    return SessionRunner.#open(modelPath, toOrtOptions(sessionOptions, providers), 'cpu');
  }

  static async #open(
    modelPath: string,
    options: ort.InferenceSession.SessionOptions,
    device: Device,
    deviceOutputs: readonly string[] = [],
    providers: InferenceSessionProviders = [],
  ): Promise<SessionRunner> {
    if (!existsSync(modelPath)) {
      throw new ModelError('ERR_MODEL_LOAD', `ONNX file not found: ${modelPath}`);
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelPath, options);
    } catch (cause) {
      throw new ModelError('ERR_MODEL_LOAD', `cannot load ${modelPath}: ${(cause as Error).message}`, {
        cause,
      });
    }
    trackSession(session);
    return new SessionRunner(session, device, deviceOutputs, providers);
  }

  /**
   * Helper graphs on this session's device that gather, cut, join and download its device
   * tensors; null when the session keeps no output on the device.
   */
  get deviceOps(): DeviceOps | null {
    return this.#ops;
  }

  /** Runs the network; outputs kept on the device are copied to host memory and freed. */
  async run(feeds: Record<string, TensorLike>, opts: RunOptions = {}): Promise<Record<string, TensorLike>> {
    const results = await this.#exec(feeds, opts);
    const onDevice = Object.entries(results).filter(([, t]) => t.location === 'gpu-buffer');
    try {
      const out: Record<string, TensorLike> = {};
      if (onDevice.length > 0) {
        const tensors = onDevice.map(([, t]) => new DeviceTensor(t));
        try {
          const data = await (this.#ops as DeviceOps).download(tensors);
          onDevice.forEach(([name, t], i) => {
            out[name] = { type: 'float32', data: data[i] as Float32Array, dims: [...t.dims] };
          });
        } finally {
          for (const t of tensors) t.dispose();
        }
      }
      for (const [name, t] of Object.entries(results)) {
        if (!onDevice.some(([n]) => n === name)) out[name] = fromOrt(name, t);
      }
      return out;
    } finally {
      for (const [, t] of onDevice) if (t.location === 'gpu-buffer') disposeOrt(t);
    }
  }

  /**
   * Runs the network on host and device tensors; the outputs named in `deviceOutputs` come back
   * as `DeviceTensor`s, which the caller frees.
   */
  async runOnDevice(
    feeds: Record<string, TensorLike | DeviceTensor>,
    opts: RunOptions = {},
  ): Promise<Record<string, TensorLike | DeviceTensor>> {
    const results = await this.#exec(feeds, opts);
    const out: Record<string, TensorLike | DeviceTensor> = {};
    try {
      for (const [name, t] of Object.entries(results)) {
        out[name] = t.location === 'gpu-buffer' ? new DeviceTensor(t) : fromOrt(name, t);
      }
      return out;
    } catch (err) {
      for (const t of Object.values(out)) if (isDeviceTensor(t)) t.dispose();
      for (const t of Object.values(results)) if (t.location === 'gpu-buffer') disposeOrt(t);
      throw err;
    }
  }

  /** One run: the raw outputs asked for (device outputs not asked for are freed here). */
  async #exec(
    feeds: Record<string, TensorLike | DeviceTensor>,
    opts: RunOptions,
  ): Promise<Record<string, ort.Tensor>> {
    if (this.#disposed) throw new ModelError('ERR_DISPOSED', 'this model runner has been disposed');
    const ortFeeds: Record<string, ort.Tensor> = {};
    let fromDevice = false;
    for (const name of this.inputNames) {
      const t = feeds[name];
      if (t === undefined) {
        throw new ModelError(
          'ERR_MODEL_RUN',
          `the model needs input ${name}; got ${Object.keys(feeds).join(', ') || 'none'}`,
        );
      }
      if (isDeviceTensor(t)) fromDevice = true;
      try {
        ortFeeds[name] = toOrt(name, t, this.#inputTypes.get(name));
      } catch (err) {
        if (err instanceof HfTasksError) throw err;
        throw new ModelError('ERR_MODEL_RUN', `input ${name}: ${(err as Error).message}`);
      }
    }
    const wanted = opts.outputs ?? this.outputNames;
    for (const name of wanted) {
      if (!this.outputNames.includes(name)) {
        throw new ModelError(
          'ERR_MODEL_RUN',
          `the model has no output ${name}; it has ${this.outputNames.join(', ')}`,
        );
      }
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      // onnxruntime-node 1.23 can label a fetched subset wrongly (seen on graphs with an If node:
      // asking for [logits, present.1.*] returned present.0.* under the first name): fetch a
      // prefix of the outputs as asked, anything else as all outputs. With device outputs the
      // binding keeps one IO binding for the session, whose outputs stay bound from run to run
      // (an output fetched before and not now would be handed the earlier run's tensor to fill,
      // and fail on a new shape): every run fetches every output.
      const prefix = this.#ops === null && wanted.every((name, i) => this.outputNames[i] === name);
      results = await this.#session.run(ortFeeds, prefix ? wanted : this.outputNames);
    } catch (cause) {
      throw new ModelError('ERR_MODEL_RUN', `the model failed to run: ${(cause as Error).message}`, {
        cause,
      });
    }
    if (fromDevice) this.deviceFedRuns++;
    const out: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(results)) {
      if (wanted.includes(name)) out[name] = t as ort.Tensor;
      else if ((t as ort.Tensor).location === 'gpu-buffer') disposeOrt(t as ort.Tensor);
    }
    const missing = wanted.find((name) => out[name] === undefined);
    if (missing !== undefined) {
      for (const t of Object.values(out)) if (t.location === 'gpu-buffer') disposeOrt(t);
      throw new ModelError('ERR_MODEL_RUN', `the model returned no ${missing}`);
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#ops?.release();
    openSessions.delete(this.#session);
    await this.#session.release();
  }
}

/** Opens an inline runner for one ONNX file. */
export function createSessionRunner(
  modelPath: string,
  options?: SessionRunnerOptions,
): Promise<SessionRunner> {
  return SessionRunner.create(modelPath, options);
}

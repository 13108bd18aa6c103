/**
 * The generation engine for one decoder model: a dedicated worker thread that owns the session
 * (intra-op threads = cores, weights held once), the tokenizer and the decode loop; or the same
 * loop inline in the calling thread. Requests go in as prompt ids and parameters, token events
 * and results come back; key/value caches never leave the thread that owns the session. On
 * WebGPU they stay in GPU memory between steps (`deviceCache`): the loop and the session share
 * a thread, so the device tensors never have to cross one.
 *
 * A `Generator` is also a `ModelRunner`, so the model loader can hand it to a task like any
 * runner; its `run` executes single forward passes on the same session.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { HfTasksError, ModelError, WorkerCrashedError } from '../errors.js';
import { loadModelConfig } from '../runtime/config.js';
import { gpuProviderOf } from '../runtime/device.js';
import { liveDeviceTensors } from '../runtime/device-tensor.js';
import { onnxOutputNames } from '../runtime/onnx-graph.js';
import { availableCores } from '../runtime/pool.js';
import type { ModelRunner, RunOptions, TensorLike } from '../runtime/runner.js';
import { SessionRunner, type SessionRunnerOptions } from '../runtime/session.js';
import { openFolderTokenizer } from '../runtime/vocab-tokenizer.js';
import { fromWire, toWire, type WireError } from '../runtime/wire.js';
import { type DecoderLayout, decoderLayout, type ValueDecl } from './decoder.js';
import {
  checkRequest,
  GenerationLoop,
  type GenerationRequest,
  type GenerationResult,
  type LoopOptions,
  type LoopStats,
  type TokenEvent,
} from './loop.js';
import { encoderLayout, seq2seqLayout } from './seq2seq.js';

/** Options of a generation engine (camelCase library options). */
export interface GeneratorOptions extends SessionRunnerOptions, LoopOptions {
  /** Run the loop in the calling thread (blocks the event loop while the network computes). */
  inline?: boolean;
  /**
   * Encoder-decoder models: the encoder's ONNX file and, for the split layout, the first-step
   * decoder (`decoder_model.onnx`; the main file is then `decoder_with_past_model.onnx`).
   */
  seq2seq?: { encoderFile: string; firstFile?: string };
}

/** Per-call options of `generate`. */
export interface GenerateCallOptions {
  /** Stops the request at the next step and frees its cache; the call rejects with ERR_ABORTED. */
  signal?: AbortSignal;
  /** Per-token events (greedy and sampling requests with `stream: true`). */
  onToken?: (event: TokenEvent) => void;
}

/** Where a generation engine keeps its caches, from the thread that runs it. */
export interface DeviceCacheStats extends LoopStats {
  /** The device the decoder session runs on. */
  device: string;
  /** Device tensors alive in the engine's thread (0 once no request runs). */
  liveDeviceTensors: number;
  /** Decoder runs fed at least one device tensor. */
  deviceFedRuns: number;
  /** Row gathers, cuts and joins run on the device (rows joining, leaving, beam reorders). */
  deviceMoves: number;
  /** Device tensors copied to host memory by the engine's helper graphs. */
  downloads: number;
}

/** A loaded generation model. */
export interface Generator extends ModelRunner {
  readonly layout: DecoderLayout;
  readonly mode: 'inline' | 'worker';
  generate(request: GenerationRequest, options?: GenerateCallOptions): Promise<GenerationResult>;
  /** Requests waiting and rows being decoded (inline mode only; null from a worker). */
  stats(): { queued: number; activeRows: number; steps: number; maxRowsPerStep: number } | null;
  /** Where the caches are kept and what is still alive there, asked of the engine's thread. */
  deviceCacheStats?(): Promise<DeviceCacheStats>;
}

/** The folder with tokenizer.json / config.json for an ONNX file (its own, or the parent of onnx/). */
export function modelDirOf(onnxFile: string): string {
  const dir = path.dirname(onnxFile);
  if (existsSync(path.join(dir, 'config.json'))) return dir;
  return path.dirname(dir);
}

function abortError(): HfTasksError {
  return new HfTasksError('ERR_ABORTED', 'the generation was cancelled');
}

function declarations(session: SessionRunner): { inputs: ValueDecl[]; outputs: ValueDecl[] } {
  return {
    inputs: session.inputMetadata.map((m) => ({
      name: m.name,
      ...(m.isTensor ? { type: m.type, shape: m.shape } : {}),
    })),
    outputs: session.outputMetadata.map((m) => ({ name: m.name })),
  };
}

/** What `openInline` opens: the decoder session, the loop, and a release of every session. */
export interface OpenedGenerator {
  session: SessionRunner;
  loop: GenerationLoop;
  layout: DecoderLayout;
  /** Stops the loop, waits for its step in flight, frees its caches and releases every session. */
  dispose(): Promise<void>;
  /** Where the caches are kept and what is alive on the device, in this thread. */
  deviceCacheStats(): DeviceCacheStats;
}

/**
 * The outputs of an ONNX file that hold caches (present.*) or, for an encoder, its output:
 * kept on the device when the session runs on WebGPU. None when the device cache is off or
 * the session cannot run on WebGPU.
 */
function deviceOutputsOf(file: string, options: GeneratorOptions, encoder: boolean): string[] {
  if (options.deviceCache === false) return [];
  const providers = options.sessionOptions?.executionProviders;
  const gpu = providers !== undefined ? gpuProviderOf(providers) : options.device;
  if (gpu !== 'webgpu') return [];
  let names: string[];
  try {
    names = onnxOutputNames(file);
  } catch {
    // A file this reader cannot follow runs with its caches in host memory.
    return [];
  }
  if (encoder) {
    const out = names.includes('last_hidden_state') ? 'last_hidden_state' : names[0];
    return out === undefined ? [] : [out];
  }
  return names.filter((n) => n.startsWith('present'));
}

/** Opens the session(s), tokenizer and loop in this thread. */
export async function openInline(onnxFile: string, options: GeneratorOptions): Promise<OpenedGenerator> {
  const dir = modelDirOf(onnxFile);
  const config = loadModelConfig(dir);
  const { seq2seq, inline: _inline, deviceCache: _deviceCache, ...rest } = options;
  const sessionOptions: SessionRunnerOptions = {
    ...(rest.device !== undefined && { device: rest.device }),
    ...(rest.deviceFallback !== undefined && { deviceFallback: rest.deviceFallback }),
    ...(rest.sessionOptions !== undefined && { sessionOptions: rest.sessionOptions }),
  };
  const open = (file: string, encoder = false) =>
    SessionRunner.create(file, { ...sessionOptions, deviceOutputs: deviceOutputsOf(file, options, encoder) });
  const sessions: SessionRunner[] = [];
  let loop: GenerationLoop | null = null;
  const release = async () => {
    if (loop !== null) {
      loop.close(new ModelError('ERR_DISPOSED', 'the generation engine has been disposed'));
      await loop.idle();
    }
    await Promise.all(sessions.map((s) => s.dispose()));
  };
  const stats = (session: SessionRunner): DeviceCacheStats => ({
    ...(loop as GenerationLoop).stats(),
    device: session.device,
    liveDeviceTensors: liveDeviceTensors(),
    deviceFedRuns: sessions.reduce((n, s) => n + s.deviceFedRuns, 0),
    deviceMoves: sessions.reduce((n, s) => n + (s.deviceOps?.stats.deviceRuns ?? 0), 0),
    downloads: sessions.reduce((n, s) => n + (s.deviceOps?.stats.downloads ?? 0), 0),
  });
  try {
    const session = await open(onnxFile);
    sessions.push(session);
    const tokenizer = openFolderTokenizer(dir);
    const decl = declarations(session);
    if (seq2seq === undefined) {
      const layout = decoderLayout(decl.inputs, decl.outputs, config);
      loop = new GenerationLoop(session, layout, tokenizer, options);
      return { session, loop, layout, dispose: release, deviceCacheStats: () => stats(session) };
    }
    const encoder = await open(seq2seq.encoderFile, true);
    sessions.push(encoder);
    let first = session;
    if (seq2seq.firstFile !== undefined) {
      first = await open(seq2seq.firstFile);
      sessions.push(first);
    }
    const enc = declarations(encoder);
    const layout = seq2seqLayout(decl.inputs, decl.outputs, config);
    loop = new GenerationLoop(session, layout, tokenizer, options, {
      encoder,
      encoderLayout: encoderLayout(enc.inputs, enc.outputs),
      first,
    });
    return { session, loop, layout, dispose: release, deviceCacheStats: () => stats(session) };
  } catch (err) {
    await release();
    throw err;
  }
}

class InlineGenerator implements Generator {
  readonly mode = 'inline' as const;
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly layout: DecoderLayout;
  readonly #session: SessionRunner;
  readonly #loop: GenerationLoop;
  readonly #release: () => Promise<void>;
  readonly #stats: () => DeviceCacheStats;

  constructor({ session, loop, layout, dispose, deviceCacheStats }: OpenedGenerator) {
    this.#session = session;
    this.#loop = loop;
    this.#release = dispose;
    this.#stats = deviceCacheStats;
    this.layout = layout;
    this.inputNames = session.inputNames;
    this.outputNames = session.outputNames;
  }

  run(feeds: Record<string, TensorLike>, opts?: RunOptions): Promise<Record<string, TensorLike>> {
    return this.#session.run(feeds, opts);
  }

  generate(request: GenerationRequest, options: GenerateCallOptions = {}): Promise<GenerationResult> {
    return runWithSignal(request, this.layout, options, (req, emit) => this.#loop.submit(req, emit));
  }

  stats() {
    return {
      queued: this.#loop.queued,
      activeRows: this.#loop.activeRows,
      steps: this.#loop.steps,
      maxRowsPerStep: this.#loop.maxRowsPerStep,
    };
  }

  async deviceCacheStats(): Promise<DeviceCacheStats> {
    return this.#stats();
  }

  async dispose(): Promise<void> {
    await this.#release();
  }
}

function runWithSignal(
  request: GenerationRequest,
  layout: DecoderLayout,
  options: GenerateCallOptions,
  submit: (
    req: GenerationRequest,
    emit: (e: TokenEvent) => void,
  ) => { result: Promise<GenerationResult>; cancel(): void },
): Promise<GenerationResult> {
  checkRequest(request, layout);
  const { signal, onToken } = options;
  if (signal?.aborted) return Promise.reject(abortError());
  const emit = onToken ?? (() => undefined);
  const handle = submit(request, emit);
  if (signal === undefined) return handle.result;
  const onAbort = () => handle.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  return handle.result.finally(() => signal.removeEventListener('abort', onAbort));
}

/** Messages between the engine and its generation worker. */
export type ToGenWorker =
  | { type: 'open'; onnxFile: string; options: GeneratorOptions }
  | { type: 'generate'; id: number; request: GenerationRequest }
  | { type: 'cancel'; id: number }
  | { type: 'run'; id: number; feeds: Record<string, TensorLike>; outputs?: string[] }
  | { type: 'stats'; id: number }
  | { type: 'close' };

export type FromGenWorker =
  | { type: 'opened'; layout: DecoderLayout; inputNames: string[]; outputNames: string[] }
  | { type: 'token'; id: number; event: TokenEvent }
  | { type: 'result'; id: number; result: GenerationResult }
  | { type: 'ran'; id: number; outputs: Record<string, TensorLike> }
  | { type: 'stats'; id: number; stats: DeviceCacheStats }
  | { type: 'error'; id: number; error: WireError };

function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./worker.ts', here);
    let tsx: string;
    try {
      tsx = import.meta.resolve('tsx/esm/api');
    } catch {
      return new Worker(entry);
    }
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
    return new Worker(code, { eval: true });
  }
  return new Worker(new URL('./worker.js', here));
}

interface Pending {
  resolve: (v: never) => void;
  reject: (e: Error) => void;
  onToken?: ((e: TokenEvent) => void) | undefined;
}

class WorkerGenerator implements Generator {
  readonly mode = 'worker' as const;
  inputNames: string[] = [];
  outputNames: string[] = [];
  layout!: DecoderLayout;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #dead: Error | null = null;
  #closing: Promise<void> | null = null;

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (m: FromGenWorker) => this.#onMessage(m));
    worker.on('error', (err: Error) => {
      this.#dead = new WorkerCrashedError(`the generation worker stopped unexpectedly (${err.message})`);
    });
    worker.on('exit', () => {
      const reason =
        this.#closing !== null
          ? new ModelError('ERR_DISPOSED', 'the generation engine has been disposed')
          : (this.#dead ?? new WorkerCrashedError('the generation worker exited unexpectedly'));
      this.#dead = reason;
      for (const p of this.#pending.values()) p.reject(reason);
      this.#pending.clear();
    });
    worker.unref();
  }

  async open(onnxFile: string, options: GeneratorOptions): Promise<void> {
    const opened = await this.#call<Extract<FromGenWorker, { type: 'opened' }>>(0, {
      type: 'open',
      onnxFile,
      options,
    });
    this.layout = opened.layout;
    this.inputNames = opened.inputNames;
    this.outputNames = opened.outputNames;
  }

  #onMessage(m: FromGenWorker): void {
    const id = m.type === 'opened' ? 0 : m.id;
    const p = this.#pending.get(id);
    if (p === undefined) return;
    if (m.type === 'token') {
      p.onToken?.(m.event);
      return;
    }
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (m.type === 'error') p.reject(fromWire(m.error));
    else if (m.type === 'result') p.resolve(m.result as never);
    else if (m.type === 'ran') p.resolve(m.outputs as never);
    else if (m.type === 'stats') p.resolve(m.stats as never);
    else p.resolve(m as never);
  }

  #call<T>(id: number, msg: ToGenWorker, onToken?: (e: TokenEvent) => void): Promise<T> {
    if (this.#dead !== null) return Promise.reject(this.#dead);
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: never) => void, reject, onToken });
      this.#worker.ref();
      this.#worker.postMessage(msg);
    });
  }

  run(feeds: Record<string, TensorLike>, opts: RunOptions = {}): Promise<Record<string, TensorLike>> {
    const id = this.#nextId++;
    return this.#call(id, {
      type: 'run',
      id,
      feeds,
      ...(opts.outputs !== undefined && { outputs: opts.outputs }),
    });
  }

  generate(request: GenerationRequest, options: GenerateCallOptions = {}): Promise<GenerationResult> {
    return runWithSignal(request, this.layout, options, (req, emit) => {
      const id = this.#nextId++;
      return {
        result: this.#call<GenerationResult>(id, { type: 'generate', id, request: req }, emit),
        cancel: () => {
          if (this.#dead === null) this.#worker.postMessage({ type: 'cancel', id } satisfies ToGenWorker);
        },
      };
    });
  }

  stats() {
    return null;
  }

  deviceCacheStats(): Promise<DeviceCacheStats> {
    const id = this.#nextId++;
    return this.#call(id, { type: 'stats', id });
  }

  dispose(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      if (this.#dead !== null) {
        resolve();
        return;
      }
      this.#worker.once('exit', () => resolve());
      const timer = setTimeout(() => void this.#worker.terminate(), 5000);
      timer.unref();
      this.#worker.ref();
      this.#worker.postMessage({ type: 'close' } satisfies ToGenWorker);
    });
    return this.#closing;
  }
}

/** Opens a decoder-only ONNX model for generation, in a dedicated worker (default) or inline. */
export async function createGenerator(onnxFile: string, options: GeneratorOptions = {}): Promise<Generator> {
  const { inline, ...rest } = options;
  if (inline === true) {
    return new InlineGenerator(await openInline(onnxFile, rest));
  }
  // One worker per model: its session uses every core (unless told otherwise).
  const sessionOptions = { ...rest.sessionOptions };
  sessionOptions.intraOpNumThreads ??= availableCores();
  sessionOptions.interOpNumThreads ??= 1;
  const generator = new WorkerGenerator(startWorker());
  try {
    await generator.open(onnxFile, { ...rest, sessionOptions });
  } catch (err) {
    await generator.dispose();
    throw err;
  }
  return generator;
}

/** Whether a runner is a generation engine. */
export function isGenerator(runner: ModelRunner): runner is Generator {
  return typeof (runner as Partial<Generator>).generate === 'function';
}

export { toWire };

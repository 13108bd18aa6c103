/**
 * A pool of worker threads that run onnxruntime sessions. Every model loaded into the pool is
 * opened in every worker; each job goes to the next idle worker, one job per worker at a time,
 * so a long job never holds up the others. The main thread only routes messages.
 *
 * A worker that dies (uncaught exception, exit, termination) is replaced and gets every model
 * reloaded; the job it held fails with `ERR_WORKER_CRASHED` instead of hanging. Idle workers do
 * not keep the process alive.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { HfTasksError, ModelError, WorkerCrashedError } from '../errors.js';
import type { Job, JobTiming } from './batch.js';
import type { TensorLike } from './runner.js';
import type { SessionRunnerOptions } from './session.js';
import { type Fault, type FromWorker, fromWire, type ModelInfo, type ToWorker } from './wire.js';

/** Options of a worker pool. */
export interface PoolOptions {
  /** Number of worker threads (>= 1). Default: `defaultWorkerCount()`. */
  workers?: number;
  /**
   * Lets `injectFault` make a worker throw or exit on its next job. For testing the pool's
   * crash handling; never needed in production.
   */
  faultInjection?: boolean;
}

/** Replacements of one worker slot in a row (without a completed job in between) before it is given up. */
const MAX_RESTARTS_IN_ROW = 3;
/** How long a closing worker may take to release its sessions before it is terminated. */
const CLOSE_TIMEOUT_MS = 5000;

/** CPU cores this process may use. */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * Default number of workers: one per core up to 4 (then the cores are split between 4 workers'
 * intra-op threads), so workers x threads never exceeds the cores. Several single-threaded
 * sessions serve concurrent callers better than one multi-threaded session, whose threads
 * wait on each other for small batches and stall when another process holds a core.
 */
export function defaultWorkerCount(cores = availableCores()): number {
  return Math.max(1, Math.min(4, cores));
}

/** Intra-op threads per session so that `workers` sessions share the cores without oversubscription. */
export function threadsPerWorker(workers: number, cores = availableCores()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, workers)));
}

interface Call {
  resolve: (m: FromWorker) => void;
  reject: (e: Error) => void;
}

interface Slot {
  readonly index: number;
  readonly worker: Worker;
  readonly calls: Map<number, Call>;
  /** Models open in this worker, and models being opened. */
  readonly loaded: Set<number>;
  readonly loading: Set<number>;
  busy: boolean;
  alive: boolean;
  /** Crashes since the slot last completed a job. */
  failures: number;
  lastError: string | null;
}

interface Task {
  key: number;
  job: Job;
  resolve: (r: Record<string, TensorLike>[]) => void;
  reject: (e: unknown) => void;
  timing: JobTiming | undefined;
}

interface ModelEntry {
  modelPath: string;
  options: SessionRunnerOptions;
  /** Opened in this worker slot only (a model's solo session). */
  onlySlot?: number;
}

/**
 * The job with its feeds copied into buffers of their own, to be moved (transferred) to the
 * worker: the caller's arrays stay intact, and a feed that is a view into a larger buffer costs
 * only its own bytes.
 */
function ownedCopy(job: Job): { job: Job; transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = [];
  const parts = job.parts.map((p) => {
    const feeds: Record<string, TensorLike> = {};
    for (const [name, t] of Object.entries(p.feeds)) {
      const data = t.data.slice();
      transfer.push(data.buffer as ArrayBuffer);
      feeds[name] = { type: t.type, data, dims: [...t.dims] };
    }
    return { ...p, feeds };
  });
  return { job: { ...job, parts }, transfer };
}

/**
 * The parent's Node options a worker can start with: those that only apply to the main script
 * (`--input-type`, which Node refuses in a worker, as in `node --input-type=module -e '...'`) are
 * left out; the rest (`--import`, `--conditions`, memory limits) pass through.
 */
export function workerExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--input-type') {
      i++;
      continue;
    }
    if (a.startsWith('--input-type=')) continue;
    out.push(a);
  }
  return out;
}

function startWorker(faultInjection: boolean): Worker {
  const here = import.meta.url;
  const workerData = { faultInjection };
  const execArgv = workerExecArgv(process.execArgv);
  if (here.endsWith('.ts')) {
    // Running from the TypeScript sources (tests, tsx): register tsx in the worker before its entry.
    const entry = new URL('./worker.ts', here);
    let tsx: string;
    try {
      tsx = import.meta.resolve('tsx/esm/api');
    } catch {
      // No tsx: a runtime that loads TypeScript by itself.
      return new Worker(entry, { workerData, execArgv });
    }
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
    return new Worker(code, { eval: true, workerData, execArgv });
  }
  return new Worker(new URL('./worker.js', here), { workerData, execArgv });
}

/** Worker threads running onnxruntime sessions. */
export class WorkerPool {
  /** Number of worker slots. */
  readonly size: number;
  readonly #faultInjection: boolean;
  readonly #slots: Slot[] = [];
  #queue: Task[] = [];
  readonly #models = new Map<number, ModelEntry>();
  /** Model key -> the key of its solo session in worker 0 (see `loadSolo`). */
  readonly #soloOf = new Map<number, number>();
  #soloJobs = 0;
  #besideJobs = 0;
  /** A solo job (or one run beside the pool) is running: it holds every core, so other jobs wait for it. */
  #soloBusy = false;
  #nextKey = 1;
  #nextReq = 1;
  /** Loads and jobs not yet settled; workers are ref'ed only while this is above 0. */
  #active = 0;
  #restarts = 0;
  #closing: Promise<void> | null = null;

  constructor(options: PoolOptions = {}) {
    const n = options.workers ?? defaultWorkerCount();
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
      throw new HfTasksError('ERR_INVALID_ARGUMENT', `workers must be an integer >= 1 (got ${String(n)})`);
    }
    this.size = n;
    this.#faultInjection = options.faultInjection === true;
    for (let i = 0; i < n; i++) this.#slots.push(this.#spawn(i, 0));
  }

  /** Whether `dispose` was called. */
  get disposed(): boolean {
    return this.#closing !== null;
  }

  /** Thread ids of the current workers (a replaced worker gets a new id). */
  get threadIds(): number[] {
    return this.#slots.filter((s) => s.alive).map((s) => s.worker.threadId);
  }

  /** Workers replaced after a crash since the pool started. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Jobs run on a solo session (alone, with every core) so far. */
  get soloJobs(): number {
    return this.#soloJobs;
  }

  /** Jobs run beside the pool (`runBeside`) so far. */
  get besideJobs(): number {
    return this.#besideJobs;
  }

  /** Jobs waiting for an idle worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Opens a model in every worker; resolves with its key for `execute` and what it looks like. */
  async load(
    modelPath: string,
    options: SessionRunnerOptions = {},
  ): Promise<{ key: number; info: ModelInfo }> {
    this.#assertOpen();
    const key = this.#nextKey++;
    this.#models.set(key, { modelPath, options });
    this.#activity(1);
    try {
      const slots = this.#slots.filter((s) => s.alive);
      if (slots.length === 0) throw new WorkerCrashedError('no worker of the pool is alive');
      const settled = await Promise.allSettled(slots.map((s) => this.#loadOn(s, key)));
      const failure = settled.find(
        (s): s is PromiseRejectedResult =>
          s.status === 'rejected' && !(s.reason instanceof WorkerCrashedError),
      );
      const ok = settled.find((s): s is PromiseFulfilledResult<ModelInfo> => s.status === 'fulfilled');
      if (failure !== undefined || ok === undefined) {
        await this.unload(key);
        throw failure?.reason ?? (settled[0] as PromiseRejectedResult).reason;
      }
      return { key, info: ok.value };
    } finally {
      this.#activity(-1);
    }
  }

  /** Closes a model in every worker; queued jobs for it fail with `ERR_DISPOSED`. */
  async unload(key: number): Promise<void> {
    const solo = this.#soloOf.get(key);
    if (solo !== undefined) {
      this.#soloOf.delete(key);
      await this.unload(solo);
    }
    if (!this.#models.delete(key)) return;
    const stranded = this.#queue.filter((t) => t.key === key);
    this.#queue = this.#queue.filter((t) => t.key !== key);
    for (const t of stranded) this.#settle(t, new ModelError('ERR_DISPOSED', 'the model was disposed'));
    this.#activity(1);
    try {
      const closing = this.#slots
        .filter((s) => s.alive && (s.loaded.has(key) || s.loading.has(key)))
        .map((s) => {
          s.loaded.delete(key);
          return this.#request(s, { type: 'unload', req: 0, key }).catch(() => undefined);
        });
      await Promise.all(closing);
    } finally {
      this.#activity(-1);
    }
  }

  /**
   * Opens a second session of model `key` in worker 0 with `threads` intra-op threads, used for
   * a job that would run alone (no other job running or waiting), so that a lone call gets every
   * core while concurrent calls keep one single-threaded session per worker. It costs a second
   * copy of the weights in worker 0; a failure to open it only leaves it out.
   */
  async loadSolo(key: number, threads: number): Promise<void> {
    this.#assertOpen();
    const model = this.#models.get(key);
    const slot = this.#slots[0];
    if (model === undefined || slot === undefined || !slot.alive || this.#soloOf.has(key)) return;
    const solo = this.#nextKey++;
    this.#models.set(solo, {
      modelPath: model.modelPath,
      options: {
        ...model.options,
        sessionOptions: { ...model.options.sessionOptions, intraOpNumThreads: threads },
      },
      onlySlot: 0,
    });
    this.#activity(1);
    try {
      await this.#loadOn(slot, solo);
      if (this.#models.has(key)) this.#soloOf.set(key, solo);
      else await this.unload(solo);
    } catch {
      this.#models.delete(solo);
    } finally {
      this.#activity(-1);
    }
  }

  /**
   * Runs a job on the next idle worker that has the model open. `timing.runMs` is set to the time
   * the job took in the worker, without its wait in the queue or the hops.
   */
  execute(key: number, job: Job, timing?: JobTiming): Promise<Record<string, TensorLike>[]> {
    if (this.#closing !== null) {
      return Promise.reject(new ModelError('ERR_DISPOSED', 'the worker pool has been disposed'));
    }
    if (!this.#models.has(key))
      return Promise.reject(new ModelError('ERR_DISPOSED', 'the model was disposed'));
    return new Promise((resolve, reject) => {
      this.#activity(1);
      this.#queue.push({ key, job, resolve, reject, timing });
      this.#dispatch();
    });
  }

  /**
   * Runs `job` (work on a session outside the pool, in the calling thread) if the pool is idle,
   * with nothing running or waiting, and holds the pool's jobs back until it ends, as a solo job
   * holds them: the two would fight over the cores. Returns null, without running it, when the
   * pool is busy or disposed.
   */
  runBeside<T>(job: () => Promise<T>): Promise<T> | null {
    if (this.#closing !== null || this.#soloBusy || this.#queue.length > 0) return null;
    if (this.#slots.some((s) => s.busy)) return null;
    this.#soloBusy = true;
    this.#besideJobs++;
    let running: Promise<T>;
    try {
      running = job();
    } catch (err) {
      running = Promise.reject(err);
    }
    return running.finally(() => {
      this.#soloBusy = false;
      this.#dispatch();
    });
  }

  /**
   * Makes worker `index` fail on its next job (`throw`: an uncaught exception; `exit`: the thread
   * exits). Only for pools created with `faultInjection: true`.
   */
  injectFault(index: number, fault: Fault): void {
    if (!this.#faultInjection) {
      throw new HfTasksError('ERR_INVALID_ARGUMENT', 'this pool was not created with faultInjection');
    }
    const slot = this.#slots[index];
    if (slot === undefined || !slot.alive)
      throw new HfTasksError('ERR_INVALID_ARGUMENT', `no live worker ${index}`);
    slot.worker.postMessage({ type: 'fault', fault } satisfies ToWorker);
  }

  /** Ends every worker: queued jobs fail with `ERR_DISPOSED`, running jobs finish first. */
  dispose(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    const queued = this.#queue;
    this.#queue = [];
    for (const t of queued)
      this.#settle(t, new ModelError('ERR_DISPOSED', 'the worker pool has been disposed'));
    this.#closing = Promise.all(
      this.#slots.map((slot) => {
        if (!slot.alive) return Promise.resolve();
        return new Promise<void>((resolve) => {
          slot.worker.once('exit', () => resolve());
          const timer = setTimeout(() => void slot.worker.terminate(), CLOSE_TIMEOUT_MS);
          timer.unref();
          slot.worker.once('exit', () => clearTimeout(timer));
          slot.worker.ref();
          slot.worker.postMessage({ type: 'close' } satisfies ToWorker);
        });
      }),
    ).then(() => undefined);
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closing !== null) throw new ModelError('ERR_DISPOSED', 'the worker pool has been disposed');
  }

  #spawn(index: number, failures: number): Slot {
    const worker = startWorker(this.#faultInjection);
    const slot: Slot = {
      index,
      worker,
      calls: new Map(),
      loaded: new Set(),
      loading: new Set(),
      busy: false,
      alive: true,
      failures,
      lastError: null,
    };
    worker.on('message', (m: FromWorker) => this.#onMessage(slot, m));
    worker.on('error', (err: Error) => {
      slot.lastError = err.message;
    });
    worker.on('exit', (code: number) => this.#onExit(slot, code));
    if (this.#active === 0) worker.unref();
    return slot;
  }

  #request(slot: Slot, msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      if (!slot.alive) {
        reject(new WorkerCrashedError('the worker stopped before the call was sent'));
        return;
      }
      const req = this.#nextReq++;
      slot.calls.set(req, { resolve, reject });
      slot.worker.postMessage({ ...msg, req }, transfer);
    });
  }

  #onMessage(slot: Slot, m: FromWorker): void {
    const call = slot.calls.get(m.req);
    if (call === undefined) return;
    slot.calls.delete(m.req);
    if (m.type === 'error') call.reject(fromWire(m.error));
    else call.resolve(m);
  }

  #onExit(slot: Slot, code: number): void {
    slot.alive = false;
    const disposing = this.#closing !== null;
    const reason = disposing
      ? new ModelError('ERR_DISPOSED', 'the worker pool was disposed while the call ran')
      : new WorkerCrashedError(
          `worker thread ${slot.worker.threadId} stopped unexpectedly (${slot.lastError ?? `exit code ${code}`}) while it held this call; the call was not completed`,
        );
    const calls = [...slot.calls.values()];
    slot.calls.clear();
    for (const c of calls) c.reject(reason);
    if (disposing) return;
    this.#restarts++;
    const failures = slot.failures + 1;
    if (failures <= MAX_RESTARTS_IN_ROW) {
      const fresh = this.#spawn(slot.index, failures);
      this.#slots[slot.index] = fresh;
      for (const [key, model] of this.#models) {
        if (model.onlySlot === undefined || model.onlySlot === slot.index)
          this.#loadOn(fresh, key).catch(() => undefined);
      }
    }
    this.#dispatch();
  }

  async #loadOn(slot: Slot, key: number): Promise<ModelInfo> {
    const model = this.#models.get(key);
    if (model === undefined) throw new ModelError('ERR_DISPOSED', 'the model was disposed');
    slot.loading.add(key);
    try {
      const m = await this.#request(slot, {
        type: 'load',
        req: 0,
        key,
        modelPath: model.modelPath,
        options: model.options,
      });
      if (m.type !== 'loaded') throw new HfTasksError('ERR_INTERNAL', `unexpected worker reply ${m.type}`);
      if (this.#models.has(key)) slot.loaded.add(key);
      return m.info;
    } finally {
      slot.loading.delete(key);
      this.#dispatch();
    }
  }

  #dispatch(): void {
    // A job running alone holds every core: the next ones wait for it (it ends sooner than it
    // would on one core, and two sessions would fight over the cores).
    if (this.#soloBusy) return;
    for (const slot of this.#slots) {
      if (!slot.alive || slot.busy || this.#queue.length === 0) continue;
      const i = this.#queue.findIndex((t) => slot.loaded.has(t.key));
      if (i < 0) continue;
      const task = this.#queue.splice(i, 1)[0] as Task;
      // A job that runs alone takes the model's solo session (every core) when it has one.
      const solo = this.#soloOf.get(task.key);
      const alone =
        task.job.alone === true &&
        solo !== undefined &&
        slot.loaded.has(solo) &&
        this.#queue.length === 0 &&
        this.#slots.every((s) => s === slot || !s.busy);
      slot.busy = true;
      const { job, transfer } = ownedCopy(task.job);
      const key = alone ? (solo as number) : task.key;
      if (alone) {
        this.#soloJobs++;
        this.#soloBusy = true;
      }
      this.#request(slot, { type: 'run', req: 0, key, job }, transfer).then(
        (m) => {
          slot.failures = 0;
          slot.busy = false;
          if (alone) this.#soloBusy = false;
          if (m.type === 'result') {
            if (task.timing !== undefined) task.timing.runMs = m.ms;
            this.#settle(task, null, m.results);
          } else this.#settle(task, new HfTasksError('ERR_INTERNAL', `unexpected worker reply ${m.type}`));
          this.#dispatch();
        },
        (err: unknown) => {
          slot.busy = false;
          if (alone) this.#soloBusy = false;
          this.#settle(task, err);
          this.#dispatch();
        },
      );
    }
    // Jobs no live worker has (or is opening) the model for would wait forever: fail them.
    if (this.#queue.length > 0) {
      const servable = (key: number) =>
        this.#slots.some((s) => s.alive && (s.loaded.has(key) || s.loading.has(key)));
      const stranded = this.#queue.filter((t) => !servable(t.key));
      if (stranded.length > 0) {
        this.#queue = this.#queue.filter((t) => servable(t.key));
        for (const t of stranded) {
          this.#settle(
            t,
            new WorkerCrashedError('no live worker can run this model (its workers kept crashing)'),
          );
        }
      }
    }
  }

  #settle(task: Task, err: unknown, results?: Record<string, TensorLike>[]): void {
    if (err === null && results !== undefined) task.resolve(results);
    else task.reject(err);
    this.#activity(-1);
  }

  /** Keeps the process alive only while loads or jobs are pending. */
  #activity(delta: number): void {
    const before = this.#active;
    this.#active += delta;
    if (before === 0 && this.#active > 0) {
      for (const s of this.#slots) if (s.alive) s.worker.ref();
    } else if (before > 0 && this.#active === 0 && this.#closing === null) {
      for (const s of this.#slots) if (s.alive) s.worker.unref();
    }
  }
}

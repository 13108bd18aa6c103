/**
 * The throughput engine behind the `ModelRunner` seam: a worker pool (or the calling thread,
 * inline) plus a per-model dynamic batcher. `createEngineRunner` opens a model on it; tasks see
 * an ordinary `ModelRunner`.
 */
import { statSync } from 'node:fs';
import { HfTasksError, ModelError } from '../errors.js';
import { externalDataCandidates } from '../hub/files.js';
import { type BatchLayout, batchLayout, type Job, type JobTiming, runJob, type ValueInfo } from './batch.js';
import {
  Batcher,
  type BatcherStats,
  type BatchingOptions,
  type JobExecutor,
  resolveBatchingOptions,
} from './batcher.js';
import { availableCores, defaultWorkerCount, threadsPerWorker, WorkerPool } from './pool.js';
import type { ModelRunner, RunOptions, TensorLike } from './runner.js';
import {
  createSessionRunner,
  type Device,
  gpuProviderOf,
  isGpuDevice,
  type SessionRunner,
  type SessionRunnerOptions,
} from './session.js';

/** Options of the engine (camelCase library options). */
export interface EngineOptions extends SessionRunnerOptions {
  /**
   * Worker threads that run the network. Default: one per core, at most 4 (one on a GPU device,
   * `webgpu` or `cuda`, where every worker would hold its own copy of the weights).
   * `0` runs inline in the calling thread (same as `inline: true`).
   */
  workers?: number;
  /** Run the network in the calling thread (blocks the event loop while it computes). */
  inline?: boolean;
  /** Dynamic batching across concurrent calls; `false` runs every call on its own. Default on. */
  batching?: boolean | BatchingOptions;
  /** The model's pad id, used to right-pad `input_ids` when calls are stacked. Default 0. */
  padTokenId?: number;
  /** `false`: this model's calls never share a run (rows that must run unpadded). */
  stacking?: boolean;
  /** Run on this pool instead of the shared one for the worker count. */
  pool?: WorkerPool;
  /**
   * A second session of the model, on the CPU, for a job that runs alone (nothing else runs,
   * waits or is on its way); other jobs wait for it. `true`: in worker 0 with a thread per core
   * (with several workers; a second copy of the weights in that worker). `'inline'`: in the
   * calling thread, with a thread per core (one under 4 MiB): a lone call then skips the hop to
   * a worker and back (about 0.3 ms on a busy 2-core machine) but blocks the event loop while it
   * runs. `false`: none (saves the memory). Default: `true` for graphs of 4 MiB and more,
   * `'inline'` with one thread below (their runs take a fraction of a millisecond); none when
   * `sessionOptions.intraOpNumThreads` is set.
   */
  soloSession?: boolean | 'inline';
}

/** A `ModelRunner` on the engine. */
export interface EngineRunner extends ModelRunner {
  /** The device the session runs on (after any fallback). */
  readonly device: Device;
  /** `inline` or the number of workers. */
  readonly mode: 'inline' | number;
  /** Whether calls are stacked across callers (the graph allows it and batching is on). */
  readonly batching: boolean;
  /** What the batcher did so far. */
  stats(): BatcherStats;
  /** Lone calls run on the calling thread's solo session (`soloSession: 'inline'`) so far. */
  readonly inlineJobs: number;
  /**
   * Announces a call that is under way and will run here (the pipeline calls it as a call
   * starts, before tokenization); returns the function that ends it. While other calls are
   * under way, a call that finds the engine idle waits up to `maxWaitMs` for them instead of
   * running alone on every core.
   */
  track(): () => void;
}

function checkWorkers(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new HfTasksError('ERR_INVALID_ARGUMENT', `workers must be an integer >= 0 (got ${String(v)})`);
  }
  return v;
}

/**
 * Smallest ONNX file (with its external data) given a solo session: smaller graphs run each
 * operator in microseconds, where handing work to more threads costs more than it saves.
 */
const SOLO_MIN_BYTES = 4 * 1024 * 1024;

/** Bytes of an ONNX file and its external data beside it (0 when unreadable). */
function graphBytes(file: string): number {
  let total = 0;
  for (const f of [file, ...externalDataCandidates(file)]) {
    try {
      total += statSync(f).size;
    } catch {
      // Absent.
    }
  }
  return total;
}

/** Pools shared by every runner that asks for the same number of workers. */
const sharedPools = new Map<number, { pool: WorkerPool; users: number }>();

function acquirePool(workers: number): WorkerPool {
  let entry = sharedPools.get(workers);
  if (entry === undefined || entry.pool.disposed) {
    entry = { pool: new WorkerPool({ workers }), users: 0 };
    sharedPools.set(workers, entry);
  }
  entry.users++;
  return entry.pool;
}

async function releasePool(pool: WorkerPool): Promise<void> {
  for (const [n, entry] of sharedPools) {
    if (entry.pool !== pool) continue;
    entry.users--;
    if (entry.users <= 0) {
      sharedPools.delete(n);
      await pool.dispose();
    }
    return;
  }
}

/** Ends the engine's shared worker pools (runners still open on them fail afterwards). */
export async function shutdownEngine(): Promise<void> {
  const pools = [...sharedPools.values()].map((e) => e.pool);
  sharedPools.clear();
  await Promise.all(pools.map((p) => p.dispose()));
}

class Runner implements EngineRunner {
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly device: Device;
  readonly mode: 'inline' | number;
  readonly #batcher: Batcher;
  readonly #close: () => Promise<void>;
  readonly #inlineJobs: () => number;
  #disposed: Promise<void> | null = null;

  constructor(
    names: { inputNames: string[]; outputNames: string[]; device: Device },
    mode: 'inline' | number,
    batcher: Batcher,
    close: () => Promise<void>,
    inlineJobs: () => number = () => 0,
  ) {
    this.inputNames = names.inputNames;
    this.outputNames = names.outputNames;
    this.device = names.device;
    this.mode = mode;
    this.#batcher = batcher;
    this.#close = close;
    this.#inlineJobs = inlineJobs;
  }

  get inlineJobs(): number {
    return this.#inlineJobs();
  }

  get parallelism(): number {
    return this.mode === 'inline' ? 1 : this.mode;
  }

  get batching(): boolean {
    return this.#batcher.batching;
  }

  get batchLimits(): { rows: number; tokens: number; padding: number; fixedTokens: number } {
    return this.#batcher.limits;
  }

  get outputSeqAxes(): Readonly<Record<string, readonly number[]>> | null {
    return this.#batcher.seqAxes;
  }

  stats(): BatcherStats {
    return this.#batcher.stats();
  }

  track(): () => void {
    return this.#batcher.track();
  }

  run(feeds: Record<string, TensorLike>, opts?: RunOptions): Promise<Record<string, TensorLike>> {
    if (this.#disposed !== null) {
      return Promise.reject(new ModelError('ERR_DISPOSED', 'this model runner has been disposed'));
    }
    return this.#batcher.submit(feeds, opts);
  }

  dispose(): Promise<void> {
    if (this.#disposed === null) {
      this.#batcher.close(new ModelError('ERR_DISPOSED', 'this model runner has been disposed'));
      this.#disposed = this.#close();
    }
    return this.#disposed;
  }
}

/** Opens an ONNX file on the engine: pooled (default) or inline, batched when the graph allows it. */
export async function createEngineRunner(
  modelPath: string,
  options: EngineOptions = {},
): Promise<EngineRunner> {
  const workers = checkWorkers(options.workers);
  if (options.soloSession !== undefined) checkSolo(options.soloSession);
  const batching = options.batching ?? true;
  if (typeof batching !== 'boolean' && (typeof batching !== 'object' || batching === null)) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      'batching must be a boolean or an object of batching options',
    );
  }
  const batchingOptions = resolveBatchingOptions(typeof batching === 'object' ? batching : {});
  const padTokenId = options.padTokenId ?? 0;
  if (!Number.isInteger(padTokenId) || padTokenId < 0) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `padTokenId must be an integer >= 0 (got ${String(padTokenId)})`,
    );
  }
  const runnerOptions: SessionRunnerOptions = {};
  if (options.device !== undefined) runnerOptions.device = options.device;
  if (options.deviceFallback !== undefined) runnerOptions.deviceFallback = options.deviceFallback;
  if (options.sessionOptions !== undefined) runnerOptions.sessionOptions = { ...options.sessionOptions };
  const layoutOf = (inputs: readonly ValueInfo[], outputs: readonly ValueInfo[]) =>
    batching === false || options.stacking === false ? null : batchLayout(inputs, outputs, padTokenId);

  if (options.inline === true || (workers === 0 && options.pool === undefined)) {
    const session = await createSessionRunner(modelPath, runnerOptions);
    const layout: BatchLayout | null = layoutOf(session.inputMetadata, session.outputMetadata);
    const executor: JobExecutor = { concurrency: 1, execute: (job: Job) => runJob(session, job) };
    return new Runner(session, 'inline', new Batcher(executor, layout, batchingOptions), () =>
      session.dispose(),
    );
  }

  const shared = options.pool === undefined;
  const onGpu =
    isGpuDevice(options.device) || gpuProviderOf(options.sessionOptions?.executionProviders) !== null;
  const pool = options.pool ?? acquirePool(workers ?? (onGpu ? 1 : defaultWorkerCount()));
  // Sessions in a pool share the cores: intra-op threads default to cores / workers.
  const sessionOptions = { ...runnerOptions.sessionOptions };
  const threadsChosen = sessionOptions.intraOpNumThreads !== undefined;
  sessionOptions.intraOpNumThreads ??= threadsPerWorker(pool.size);
  sessionOptions.interOpNumThreads ??= 1;
  runnerOptions.sessionOptions = sessionOptions;
  let loaded: Awaited<ReturnType<WorkerPool['load']>>;
  try {
    loaded = await pool.load(modelPath, runnerOptions);
  } catch (err) {
    if (shared) await releasePool(pool);
    throw err;
  }
  const { key, info } = loaded;
  // A lone call gets a session of its own (the pool's thread split stays for concurrent calls):
  // every core in worker 0, or the calling thread, which spares the hop to a worker.
  const cores = availableCores();
  const solo = options.soloSession;
  let inlineSolo: SessionRunner | null = null;
  if (solo !== false && !onGpu && !threadsChosen) {
    const large = graphBytes(modelPath) >= SOLO_MIN_BYTES;
    if (solo === 'inline' || (solo === undefined && !large)) {
      const threads = large ? cores : 1;
      inlineSolo = await createSessionRunner(modelPath, {
        ...runnerOptions,
        sessionOptions: { ...sessionOptions, intraOpNumThreads: threads },
      }).catch(() => null);
    } else if (pool.size > 1 && cores > threadsPerWorker(pool.size)) {
      await pool.loadSolo(key, cores);
    }
  }
  const layout = layoutOf(info.inputMetadata, info.outputMetadata);
  let inlineJobs = 0;
  /** The lone job running on the inline solo session, which a dispose lets finish. */
  let inlineRunning: Promise<unknown> | null = null;
  const executor: JobExecutor = {
    concurrency: pool.size,
    execute: (job: Job, timing?: JobTiming) => {
      if (inlineSolo !== null && job.alone === true) {
        const session = inlineSolo;
        const ran = pool.runBeside(() => runJob(session, job));
        if (ran !== null) {
          inlineJobs++;
          inlineRunning = ran;
          return ran;
        }
      }
      return pool.execute(key, job, timing);
    },
  };
  const close = async () => {
    await inlineRunning?.catch(() => undefined);
    await inlineSolo?.dispose();
    await pool.unload(key);
    if (shared) await releasePool(pool);
  };
  const batcher = new Batcher(executor, layout, batchingOptions);
  return new Runner(info, pool.size, batcher, close, () => inlineJobs);
}

/** Engine choices of `pipeline()` (the session options come with each model). */
export interface EngineSettings {
  workers?: number;
  inline?: boolean;
  batching?: boolean | BatchingOptions;
  pool?: WorkerPool;
  soloSession?: boolean | 'inline';
}

function checkSolo(v: unknown): void {
  if (typeof v !== 'boolean' && v !== 'inline') {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `soloSession must be true, false or 'inline' (got ${JSON.stringify(v) ?? String(v)})`,
    );
  }
}

/**
 * A runner factory for the model loader: opens each model on the engine with `settings`, the
 * model's device/session options and its tokenizer's pad id.
 */
export function engineRunnerFactory(
  settings: EngineSettings = {},
): (onnxPath: string, options: SessionRunnerOptions & { padTokenId?: number }) => Promise<EngineRunner> {
  const engine: EngineOptions = {};
  if (settings.workers !== undefined) engine.workers = settings.workers;
  if (settings.inline !== undefined) engine.inline = settings.inline;
  if (settings.batching !== undefined) engine.batching = settings.batching;
  if (settings.pool !== undefined) engine.pool = settings.pool;
  if (settings.soloSession !== undefined) {
    checkSolo(settings.soloSession);
    engine.soloSession = settings.soloSession;
  }
  // Checked now, so a bad option fails before any model file is read.
  checkWorkers(engine.workers);
  if (typeof engine.batching === 'object') resolveBatchingOptions(engine.batching);
  return (onnxPath, options) => createEngineRunner(onnxPath, { ...options, ...engine });
}

/**
 * The served models: model id -> one loaded pipeline per task, with its loading state. While a
 * pipeline loads, requests that did not ask to wait get 503 with an estimated time; a model
 * holds at most `maxQueue` requests (running or waiting) before new ones get 429.
 */
import { statSync } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import { InvalidInputError } from '../errors.js';
import type { Tokenizer } from '../tokenizer.js';
import type { ModelSpec } from './config.js';
import { HttpError, modelLoading, modelNotFound, queueFull } from './errors.js';
import type { ServerMetrics } from './metrics.js';

/** What the server needs of a pipeline: a callable with its task and model, and `dispose`. */
export interface ServedPipe {
  (inputs: unknown, parameters?: unknown): Promise<unknown>;
  readonly task: string;
  readonly model: string;
  dispose(): Promise<void>;
}

/**
 * Opens the pipeline of `task` for the model files at `source` (a local folder or a hub id);
 * `modelId` is the served id (for metrics).
 */
export type PipelineLoader = (task: string, source: string, modelId: string) => Promise<ServedPipe>;

/** Where a model's files are and what it serves, once resolved (local folder or hub cache). */
export interface ResolvedModel {
  dir: string;
  onnxFile?: string;
  /** Tasks the model's files say it serves (used when the configuration names none). */
  tasks: string[];
}

/** Dependencies of the registry (the real ones are wired in app.ts). */
export interface RegistryDeps {
  loader: PipelineLoader;
  /** Finds a model's folder and inferred tasks. */
  resolve: (spec: ModelSpec) => Promise<ResolvedModel>;
  /** Opens the tokenizer of a model folder (for /tokenize, usage counts and token metrics). */
  openTokenizer: (dir: string) => Tokenizer;
  /** Task ids (and aliases) the pipelines accept. */
  supportedTasks: readonly string[];
  /** Maps an alias (`ner`) to its canonical task id. */
  canonicalTask: (task: string) => string;
  maxQueue: number;
  metrics: ServerMetrics;
  log: FastifyBaseLogger;
}

type SlotState = 'idle' | 'loading' | 'ready' | 'failed';

function configError(message: string): InvalidInputError {
  return new InvalidInputError('ERR_CONFIG', message);
}

/** Seconds to wait after a failed load before a request tries again. */
const RETRY_AFTER_FAILURE_S = 10;
/** Assumed load throughput when estimating `estimated_time` from the ONNX file size. */
const LOAD_BYTES_PER_SECOND = 150e6;

class PipelineSlot {
  state: SlotState = 'idle';
  pipe: ServedPipe | undefined;
  promise: Promise<ServedPipe> | undefined;
  startedAt = 0;
  failedAt = 0;
  lastLoadSeconds: number | undefined;
  error: unknown;

  constructor(readonly task: string) {}
}

/** One served model id. */
export class ServedModel {
  readonly slots = new Map<string, PipelineSlot>();
  /** Requests currently held (waiting for a load or running). */
  held = 0;
  resolved: ResolvedModel | undefined;
  #tokenizer: Tokenizer | null | undefined;

  constructor(
    readonly spec: ModelSpec,
    readonly tasks: string[],
  ) {
    for (const t of tasks) this.slots.set(t, new PipelineSlot(t));
  }

  get id(): string {
    return this.spec.id;
  }

  /** The source handed to the loader: the local folder, else the hub id. */
  get source(): string {
    return this.spec.path ?? this.spec.id;
  }

  /** The model's tokenizer (opened once), or null when it has none. */
  tokenizer(open: (dir: string) => Tokenizer): Tokenizer | null {
    if (this.#tokenizer !== undefined) return this.#tokenizer;
    const dir = this.resolved?.dir;
    if (dir === undefined) return null;
    try {
      this.#tokenizer = open(dir);
    } catch {
      this.#tokenizer = null;
    }
    return this.#tokenizer;
  }

  /** Loading state per task. */
  states(): Record<string, SlotState> {
    const out: Record<string, SlotState> = {};
    for (const [t, s] of this.slots) out[t] = s.state;
    return out;
  }
}

export class ModelRegistry {
  readonly #models = new Map<string, ServedModel>();
  readonly #deps: RegistryDeps;
  #disposed = false;

  private constructor(deps: RegistryDeps) {
    this.#deps = deps;
  }

  /**
   * Builds the registry: resolves every configured model (its folder and, where the
   * configuration names no task, the tasks its files imply) and checks the tasks exist.
   */
  static async create(specs: readonly ModelSpec[], deps: RegistryDeps): Promise<ModelRegistry> {
    const reg = new ModelRegistry(deps);
    for (const spec of specs) {
      // A local folder, or a hub id whose task must be read from its files, is resolved now; a
      // hub id with configured tasks is resolved (and fetched if need be) when it loads.
      const resolved =
        spec.path !== undefined || spec.tasks.length === 0 ? await deps.resolve(spec) : undefined;
      const wanted = spec.tasks.length > 0 ? spec.tasks : (resolved?.tasks ?? []);
      if (wanted.length === 0) {
        throw new HttpError(
          500,
          `model ${spec.id}: cannot tell its task; configure one with --model ${spec.id}:TASK`,
        );
      }
      const tasks: string[] = [];
      for (const t of wanted) {
        if (!deps.supportedTasks.includes(t)) {
          if (spec.tasks.length === 0) continue;
          throw configError(
            `model ${spec.id}: task ${t} is not supported; supported tasks: ${deps.supportedTasks.join(', ')}`,
          );
        }
        const canonical = deps.canonicalTask(t);
        if (!tasks.includes(canonical)) tasks.push(canonical);
      }
      if (tasks.length === 0) {
        throw new HttpError(
          500,
          `model ${spec.id}: its task (${wanted.join(', ')}) is not supported by this server`,
        );
      }
      const model = new ServedModel(spec, tasks);
      model.resolved = resolved;
      reg.#models.set(spec.id, model);
    }
    return reg;
  }

  /** The served model with this id, or a 404. */
  get(id: string): ServedModel {
    const m = this.#models.get(id);
    if (!m) throw modelNotFound(id);
    return m;
  }

  has(id: string): boolean {
    return this.#models.has(id);
  }

  /** Every served model, in configuration order. */
  list(): ServedModel[] {
    return [...this.#models.values()];
  }

  /** The first model serving `task`, or an explicit `id` checked to serve it. */
  forTask(task: string, id?: string): ServedModel {
    if (id !== undefined) {
      const m = this.get(id);
      if (!m.slots.has(task)) throw new HttpError(400, `Model ${id} does not serve ${task}`);
      return m;
    }
    for (const m of this.#models.values()) if (m.slots.has(task)) return m;
    throw new HttpError(404, `no model serves ${task}; start the server with --model ID[=PATH]:${task}`);
  }

  /** The canonical task id of a name, if the server knows it. */
  canonical(task: string): string | undefined {
    return this.#deps.supportedTasks.includes(task) ? this.#deps.canonicalTask(task) : undefined;
  }

  /** The model's tokenizer, or null. */
  tokenizer(model: ServedModel): Tokenizer | null {
    return model.tokenizer(this.#deps.openTokenizer);
  }

  /**
   * Holds a place in the model's queue for the duration of `fn` (429 when it is full). The
   * queue counts requests waiting for the model to load and requests running on it.
   */
  async hold<T>(model: ServedModel, fn: () => Promise<T>): Promise<T> {
    if (model.held >= this.#deps.maxQueue) throw queueFull(model.id, this.#deps.maxQueue);
    model.held++;
    this.#deps.metrics.queueDepth.set({ model: model.id }, model.held);
    try {
      return await fn();
    } finally {
      model.held--;
      this.#deps.metrics.queueDepth.set({ model: model.id }, model.held);
    }
  }

  /**
   * The ready pipeline of `task`. When it is not loaded yet the load starts; then, unless the
   * caller waits, a 503 with an estimated time answers.
   */
  async acquire(model: ServedModel, task: string, wait: boolean): Promise<ServedPipe> {
    const slot = model.slots.get(task);
    if (!slot) throw new HttpError(400, `Model ${model.id} does not serve ${task}`);
    if (slot.state === 'ready' && slot.pipe) return slot.pipe;
    if (this.#disposed) throw new HttpError(503, 'the server is shutting down');
    if (slot.state === 'failed' && (Date.now() - slot.failedAt) / 1000 < RETRY_AFTER_FAILURE_S) {
      throw new HttpError(500, `Model ${model.id} failed to load`, { cause: slot.error });
    }
    const promise = slot.state === 'loading' && slot.promise ? slot.promise : this.#load(model, slot);
    if (!wait) throw modelLoading(model.id, this.#estimate(model, slot));
    try {
      return await promise;
    } catch (err) {
      throw new HttpError(500, `Model ${model.id} failed to load`, { cause: err });
    }
  }

  /** Starts loading every pipeline; resolves when all have loaded or failed. */
  async preload(): Promise<void> {
    const loads: Promise<unknown>[] = [];
    for (const m of this.#models.values()) {
      for (const slot of m.slots.values()) {
        if (slot.state === 'idle') loads.push(this.#load(m, slot).catch(() => undefined));
      }
    }
    await Promise.all(loads);
  }

  /** Counts of pipelines per state. */
  summary(): Record<SlotState, number> {
    const out: Record<SlotState, number> = { idle: 0, loading: 0, ready: 0, failed: 0 };
    for (const m of this.#models.values()) for (const s of m.slots.values()) out[s.state]++;
    return out;
  }

  /** Frees every loaded pipeline (waiting for loads in progress). */
  async dispose(): Promise<void> {
    this.#disposed = true;
    const all: Promise<unknown>[] = [];
    for (const m of this.#models.values()) {
      for (const s of m.slots.values()) {
        if (s.pipe) all.push(s.pipe.dispose());
        else if (s.promise) all.push(s.promise.then((p) => p.dispose()).catch(() => undefined));
        s.pipe = undefined;
        s.state = 'idle';
      }
    }
    await Promise.allSettled(all);
  }

  #load(model: ServedModel, slot: PipelineSlot): Promise<ServedPipe> {
    const { loader, metrics, log } = this.#deps;
    slot.state = 'loading';
    slot.startedAt = performance.now();
    slot.error = undefined;
    log.info({ model: model.id, task: slot.task, source: model.source }, 'loading model');
    const promise = (async () => {
      if (!model.resolved) model.resolved = await this.#deps.resolve(model.spec);
      return loader(slot.task, model.source, model.id);
    })();
    slot.promise = promise;
    promise.then(
      (pipe) => {
        if (slot.promise !== promise) return;
        const seconds = (performance.now() - slot.startedAt) / 1000;
        if (this.#disposed) {
          void pipe.dispose();
          return;
        }
        slot.pipe = pipe;
        slot.state = 'ready';
        slot.lastLoadSeconds = seconds;
        metrics.modelLoadSeconds.set({ model: model.id, task: slot.task }, seconds);
        metrics.modelsReady.set(this.summary().ready);
        log.info({ model: model.id, task: slot.task, seconds: Number(seconds.toFixed(3)) }, 'model ready');
      },
      (err: unknown) => {
        if (slot.promise !== promise) return;
        slot.state = 'failed';
        slot.failedAt = Date.now();
        slot.error = err;
        log.error({ model: model.id, task: slot.task, err }, 'model failed to load');
      },
    );
    return promise;
  }

  /** Seconds left before a loading pipeline is expected to be ready. */
  #estimate(model: ServedModel, slot: PipelineSlot): number {
    let expected = slot.lastLoadSeconds;
    if (expected === undefined) {
      expected = 2;
      const onnx = model.resolved?.onnxFile;
      if (onnx) {
        try {
          expected = 0.5 + statSync(onnx).size / LOAD_BYTES_PER_SECOND;
        } catch {
          // keep the default
        }
      }
    }
    const elapsed = slot.state === 'loading' ? (performance.now() - slot.startedAt) / 1000 : 0;
    return Number(Math.max(0.1, expected - elapsed).toFixed(3));
  }
}

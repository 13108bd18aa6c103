/**
 * Network runners shared between the pipelines of one model: pipelines that open the same ONNX
 * file with the same options (feature-extraction and sentence-similarity of one
 * sentence-transformers model) get handles on one runner, so its session is opened once per
 * worker rather than once per task. The runner is freed when its last handle is disposed.
 * Every handle refuses a network run for a request whose deadline has passed.
 */
import { ModelError } from '../errors.js';
import { type GenerateCallOptions, type Generator, isGenerator } from '../generation/engine.js';
import type { GenerationRequest, GenerationResult } from '../generation/loop.js';
import type { ModelRunner, RunOptions, TensorLike } from '../runtime/runner.js';
import { canonicalJson } from './cache.js';
import { checkDeadline, deadlineSignal } from './deadline.js';

interface Entry {
  promise: Promise<ModelRunner>;
  users: number;
}

export class SharedRunners<O extends object> {
  readonly #entries = new Map<string, Entry>();
  readonly #open: (onnxPath: string, options: O) => Promise<ModelRunner>;

  constructor(open: (onnxPath: string, options: O) => Promise<ModelRunner>) {
    this.#open = open;
  }

  /** Runners currently open. */
  get size(): number {
    return this.#entries.size;
  }

  /** A handle on the runner of `onnxPath` with `options`, opening it if no pipeline has. */
  async acquire(onnxPath: string, options: O): Promise<ModelRunner> {
    const key = `${onnxPath}\0${canonicalJson(options)}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      const created: Entry = { promise: this.#open(onnxPath, options), users: 0 };
      created.promise.catch(() => {
        if (this.#entries.get(key) === created) this.#entries.delete(key);
      });
      this.#entries.set(key, created);
      entry = created;
    }
    entry.users++;
    let runner: ModelRunner;
    try {
      runner = await entry.promise;
    } catch (err) {
      entry.users--;
      throw err;
    }
    const owner = entry;
    const release = async () => {
      owner.users--;
      if (owner.users > 0) return;
      if (this.#entries.get(key) === owner) this.#entries.delete(key);
      await runner.dispose();
    };
    return isGenerator(runner) ? new GeneratorHandle(runner, release) : new RunnerHandle(runner, release);
  }
}

class RunnerHandle implements ModelRunner {
  protected readonly runner: ModelRunner;
  readonly #release: () => Promise<void>;
  #disposed: Promise<void> | null = null;

  constructor(runner: ModelRunner, release: () => Promise<void>) {
    this.runner = runner;
    this.#release = release;
  }

  get inputNames(): string[] {
    return this.runner.inputNames;
  }

  get outputNames(): string[] {
    return this.runner.outputNames;
  }

  get parallelism(): number | undefined {
    return this.runner.parallelism;
  }

  run(feeds: Record<string, TensorLike>, opts?: RunOptions): Promise<Record<string, TensorLike>> {
    try {
      checkDeadline();
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#disposed !== null) {
      return Promise.reject(new ModelError('ERR_DISPOSED', 'this model runner has been disposed'));
    }
    const signal = deadlineSignal();
    return this.runner.run(feeds, signal === undefined ? opts : { ...opts, signal });
  }

  dispose(): Promise<void> {
    this.#disposed ??= this.#release();
    return this.#disposed;
  }
}

/**
 * A handle on a shared generation engine (text-generation and conversational of one decoder):
 * the model's weights and its decode loop are held once, and requests of both tasks share its
 * forward passes.
 */
class GeneratorHandle extends RunnerHandle implements Generator {
  readonly #generator: Generator;

  constructor(generator: Generator, release: () => Promise<void>) {
    super(generator, release);
    this.#generator = generator;
  }

  get layout(): Generator['layout'] {
    return this.#generator.layout;
  }

  get mode(): Generator['mode'] {
    return this.#generator.mode;
  }

  generate(request: GenerationRequest, options?: GenerateCallOptions): Promise<GenerationResult> {
    return this.#generator.generate(request, options);
  }

  stats(): ReturnType<Generator['stats']> {
    return this.#generator.stats();
  }
}

/**
 * Cross-caller dynamic batching for one model. Concurrent `run` calls wait in a queue; whenever
 * an execution slot is free, the oldest call is sent together with the queued calls of the
 * closest sequence lengths that fit a token budget and a maximum batch size. A call waits at
 * most `maxWaitMs` for company, and not at all while the model is idle. The queue is bounded:
 * past `maxQueue` waiting calls, `run` rejects with `ERR_QUEUE_FULL`.
 */
import { HfTasksError, QueueFullError, WorkerCrashedError } from '../errors.js';
import { type BatchLayout, type BatchPart, callShape, type Job, type JobTiming } from './batch.js';
import { JobCostModel, partitionByLength } from './job-cost.js';
import type { RunOptions, TensorLike } from './runner.js';

/** Knobs of the dynamic batcher. */
export interface BatchingOptions {
  /** Most rows (sequences) in one batch. Default 32. */
  maxBatchSize?: number;
  /** Most padded tokens (rows x longest length) in one batch; bounds activation memory. Default 8192. */
  tokenBudget?: number;
  /** Longest a call waits for other calls to join its batch while the model is busy. Default 2 ms. */
  maxWaitMs?: number;
  /** Most calls waiting for this model; more are rejected with `ERR_QUEUE_FULL`. Default 1024. */
  maxQueue?: number;
  /**
   * Largest share of a batch's tokens that may be padding (0 to 1). Within it, calls are stacked
   * or kept apart by what this model's jobs are measured to cost: padding is computed for
   * nothing, but every job also pays a fixed part (the weights read from memory, each kernel
   * launched), worth about a short sentence of tokens on BERT-size models. Default 0.5.
   */
  maxPadding?: number;
}

export const DEFAULT_BATCHING: Required<BatchingOptions> = {
  maxBatchSize: 32,
  tokenBudget: 8192,
  maxWaitMs: 2,
  maxQueue: 1024,
  maxPadding: 0.5,
};

/** Where jobs run: a worker pool or the calling thread. */
export interface JobExecutor {
  /** How many jobs may run at the same time. */
  readonly concurrency: number;
  /** Runs a job; an executor that can time the job where it runs sets `timing.runMs`. */
  execute(job: Job, timing?: JobTiming): Promise<Record<string, TensorLike>[]>;
}

/** Counters of what the batcher did (for benchmarks and metrics). */
export interface BatcherStats {
  /** Calls completed or failed. */
  calls: number;
  /** Jobs sent to the executor. */
  jobs: number;
  /** Calls that ran stacked with at least one other call. */
  batchedCalls: number;
  /** Largest number of calls in one job. */
  maxCallsPerJob: number;
  /** Real tokens (rows x own length) of batched calls, and the padded tokens their jobs ran. */
  tokens: number;
  paddedTokens: number;
  /** Calls rejected because the queue was full. */
  rejected: number;
}

type Outcome = { ok: true; value: Record<string, TensorLike> } | { ok: false; error: unknown };

interface Pending {
  part: BatchPart;
  /** Calls with the same key may be stacked; null when the call runs on its own. */
  key: string | null;
  outputs: string[] | undefined;
  /** One part of a larger call (`RunOptions.part`). */
  ofMany: boolean;
  at: number;
  resolve: (r: Record<string, TensorLike>) => void;
  reject: (e: unknown) => void;
}

function positiveInt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `batching.${name} must be an integer >= ${min} (got ${String(v)})`,
    );
  }
  return v;
}

/** Fills defaults and checks the batching options. */
export function resolveBatchingOptions(o: BatchingOptions = {}): Required<BatchingOptions> {
  const maxWaitMs = o.maxWaitMs ?? DEFAULT_BATCHING.maxWaitMs;
  if (typeof maxWaitMs !== 'number' || !Number.isFinite(maxWaitMs) || maxWaitMs < 0) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `batching.maxWaitMs must be a finite number >= 0 (got ${String(maxWaitMs)})`,
    );
  }
  const maxPadding = o.maxPadding ?? DEFAULT_BATCHING.maxPadding;
  if (typeof maxPadding !== 'number' || !(maxPadding >= 0 && maxPadding <= 1)) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `batching.maxPadding must be a number from 0 to 1 (got ${String(maxPadding)})`,
    );
  }
  return {
    maxPadding,
    maxBatchSize: positiveInt('maxBatchSize', o.maxBatchSize ?? DEFAULT_BATCHING.maxBatchSize, 1),
    tokenBudget: positiveInt('tokenBudget', o.tokenBudget ?? DEFAULT_BATCHING.tokenBudget, 1),
    maxWaitMs,
    maxQueue: positiveInt('maxQueue', o.maxQueue ?? DEFAULT_BATCHING.maxQueue, 1),
  };
}

/** Errors that say nothing about the calls themselves (so re-running them one by one is pointless). */
function isEngineFailure(err: unknown): boolean {
  return err instanceof WorkerCrashedError || (err instanceof HfTasksError && err.code === 'ERR_DISPOSED');
}

/** The dynamic batcher of one model. */
export class Batcher {
  readonly #executor: JobExecutor;
  readonly #layout: BatchLayout | null;
  readonly #opts: Required<BatchingOptions>;
  #queue: Pending[] = [];
  #inflight = 0;
  /** Calls in the running jobs. */
  #inflightCalls = 0;
  /** Calls announced through `track` and not yet ended. */
  #active = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed: Error | null = null;
  /** What a job of this model costs, learned from the jobs it ran. */
  readonly #cost = new JobCostModel();
  readonly #stats: BatcherStats = {
    calls: 0,
    jobs: 0,
    batchedCalls: 0,
    maxCallsPerJob: 0,
    tokens: 0,
    paddedTokens: 0,
    rejected: 0,
  };

  /** `layout` null: every call runs on its own (still queued, bounded and scheduled). */
  constructor(executor: JobExecutor, layout: BatchLayout | null, options: BatchingOptions = {}) {
    this.#executor = executor;
    this.#layout = layout;
    this.#opts = resolveBatchingOptions(options);
  }

  /** Whether calls of this model are stacked across callers. */
  get batching(): boolean {
    return this.#layout !== null;
  }

  /**
   * The most rows and padded tokens one job holds (`maxBatchSize`, `tokenBudget`), its largest
   * padding share, and the fixed cost of a job in tokens as measured so far.
   */
  get limits(): { rows: number; tokens: number; padding: number; fixedTokens: number } {
    return {
      rows: this.#opts.maxBatchSize,
      tokens: this.#opts.tokenBudget,
      padding: this.#opts.maxPadding,
      fixedTokens: this.#cost.fixedTokens,
    };
  }

  /** Each output's sequence axes when calls are stacked, else null. */
  get seqAxes(): Readonly<Record<string, readonly number[]>> | null {
    return this.#layout === null ? null : this.#layout.seqAxes;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Jobs running now. */
  get inflight(): number {
    return this.#inflight;
  }

  stats(): BatcherStats {
    return { ...this.#stats };
  }

  /**
   * Counts a call under way (tokenizing, queued, running or post-processing) until the returned
   * function is called. Calls that are under way but not queued yet are company on their way:
   * an idle engine waits up to `maxWaitMs` for them, and a job is never "alone" while they come.
   */
  track(): () => void {
    this.#active++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#active--;
      // A call that was waiting for company may now be the only one left.
      if (this.#queue.length > 0) this.#pump();
    };
  }

  /** Queues one call; resolves with its own outputs. */
  submit(feeds: Record<string, TensorLike>, opts: RunOptions = {}): Promise<Record<string, TensorLike>> {
    if (this.#closed !== null) return Promise.reject(this.#closed);
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#queue.length >= this.#opts.maxQueue) {
      this.#stats.rejected++;
      return Promise.reject(
        new QueueFullError(
          `the model's queue is full (${this.#opts.maxQueue} calls waiting); retry later or raise batching.maxQueue`,
        ),
      );
    }
    const shape = this.#layout === null ? null : callShape(this.#layout, feeds, opts);
    const outputs = opts.outputs === undefined ? undefined : [...opts.outputs];
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        // Still queued: drop it. Already taken into a job: it runs and settles as usual.
        const at = this.#queue.indexOf(pending);
        if (at < 0) return;
        this.#queue.splice(at, 1);
        reject(signal?.reason);
      };
      const settle =
        <T>(fn: (v: T) => void) =>
        (v: T) => {
          signal?.removeEventListener('abort', onAbort);
          fn(v);
        };
      const pending: Pending = {
        part: { feeds, rows: shape?.rows ?? 0, len: shape?.len ?? 0 },
        key: shape === null ? null : outputs === undefined ? '*' : JSON.stringify(outputs),
        outputs,
        ofMany: opts.part === true,
        at: performance.now(),
        resolve: settle(resolve),
        reject: settle(reject),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(pending);
      this.#pump();
    });
  }

  /** Rejects every waiting call and refuses new ones; running jobs finish. */
  close(err: Error): void {
    this.#closed = err;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const waiting = this.#queue;
    this.#queue = [];
    for (const p of waiting) p.reject(err);
  }

  #pump(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    while (this.#inflight < this.#executor.concurrency && this.#queue.length > 0) {
      const wait = this.#waitLeft();
      if (wait > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = null;
          this.#pump();
        }, wait);
        return;
      }
      this.#dispatch(this.#take());
    }
  }

  /** Milliseconds the oldest call should still wait for company; 0 to send now. */
  #waitLeft(): number {
    const oldest = this.#queue[0] as Pending;
    if (oldest.key === null || this.#opts.maxWaitMs === 0) return 0;
    // An idle engine waits only for calls already under way that have not reached the queue.
    if (this.#inflight === 0 && this.#active <= this.#queue.length) return 0;
    // With calls tracked, waiting is pointless once every call under way is queued or running
    // (the parts of one large call, say): no company is coming.
    if (this.#active > 0 && this.#active <= this.#queue.length + this.#inflightCalls) return 0;
    const left = oldest.at + this.#opts.maxWaitMs - performance.now();
    if (left <= 0) return 0;
    // Send at once when the queue already fills a batch.
    let rows = 0;
    let len = 0;
    for (const p of this.#queue) {
      if (p.key !== oldest.key) continue;
      rows += p.part.rows;
      if (p.part.len > len) len = p.part.len;
      if (rows >= this.#opts.maxBatchSize || rows * len >= this.#opts.tokenBudget) return 0;
    }
    return left;
  }

  /**
   * Takes the oldest call with the queued calls it is best run with: the queue, sorted by length,
   * is cut into jobs of the least total cost (`partitionByLength`: each job's fixed cost, learned
   * from this model's jobs, plus its padded tokens), and the job holding the oldest call goes.
   * With several workers a job takes at most its worker's share of the queued tokens, so that a
   * burst's tail is spread over the workers instead of one long job running while others idle.
   */
  #take(): Pending[] {
    const anchor = this.#queue[0] as Pending;
    if (anchor.key === null) {
      this.#queue.shift();
      return [anchor];
    }
    const { maxBatchSize, tokenBudget, maxPadding } = this.#opts;
    const sorted = this.#queue.filter((p) => p.key === anchor.key).sort((a, b) => a.part.len - b.part.len);
    let queued = 0;
    for (const p of sorted) queued += p.part.rows * p.part.len;
    const share = Math.ceil(queued / Math.max(1, this.#executor.concurrency));
    // A job takes at most its worker's share of what is queued, so that the work is spread over
    // the workers, but never so little that the fixed cost of one more job outweighs the gain.
    const fixedTokens = this.#cost.fixedTokens;
    const groups = partitionByLength(
      sorted.map((p) => p.part.len),
      sorted.map((p) => p.part.rows),
      {
        rows: maxBatchSize,
        tokens: tokenBudget,
        padding: maxPadding,
        fixedTokens,
        realTokens: Math.max(share, 4 * fixedTokens),
      },
    );
    const at = sorted.indexOf(anchor);
    const [from, to] = groups.find(([a, b]) => a <= at && at < b) ?? [at, at + 1];
    // In length order: the job's rows are then as sorted as the queue allowed.
    const taken = sorted.slice(from, to);
    const chosen = new Set<Pending>(taken);
    this.#queue = this.#queue.filter((p) => !chosen.has(p));
    return taken;
  }

  #dispatch(calls: Pending[]): void {
    // Alone: nothing else running, waiting or on its way, and not one part of a larger call.
    const alone =
      this.#inflight === 0 &&
      this.#queue.length === 0 &&
      this.#active <= calls.length &&
      !calls.some((c) => c.ofMany);
    this.#inflight++;
    this.#inflightCalls += calls.length;
    const first = calls[0] as Pending;
    const stacked = calls.length > 1;
    const job: Job = { parts: calls.map((c) => c.part) };
    if (first.outputs !== undefined) job.outputs = first.outputs;
    if (first.key !== null && this.#layout !== null) job.layout = this.#layout;
    if (alone) job.alone = true;
    // The job's rows, longest length and real tokens (its padded size is rows x len).
    let rows = 0;
    let len = 0;
    let real = 0;
    for (const c of calls) {
      rows += c.part.rows;
      len = Math.max(len, c.part.len);
      real += c.part.rows * c.part.len;
    }
    this.#stats.jobs++;
    if (calls.length > this.#stats.maxCallsPerJob) this.#stats.maxCallsPerJob = calls.length;
    if (stacked) {
      this.#stats.tokens += real;
      this.#stats.batchedCalls += calls.length;
      this.#stats.paddedTokens += rows * len;
    }
    // The job leaves the books before its callers resume, so that a caller's next call sees an
    // idle engine as idle.
    const settle = (outcomes: Outcome[]) => {
      this.#stats.calls += calls.length;
      this.#inflight--;
      this.#inflightCalls -= calls.length;
      calls.forEach((c, i) => {
        const o = outcomes[i] as Outcome;
        if (o.ok) c.resolve(o.value);
        else c.reject(o.error);
      });
      this.#pump();
    };
    const started = performance.now();
    const timing: JobTiming = {};
    this.#run(job, calls, timing).then(
      (outcomes) => {
        // Stacked jobs teach the cost model (a lone job may run on other sessions: every core).
        // The executor's own timing leaves out the wait for a worker that another model holds.
        if (first.key !== null && !alone && outcomes.every((o) => o.ok)) {
          this.#cost.observe(rows * len, timing.runMs ?? performance.now() - started);
        }
        settle(outcomes);
      },
      (error: unknown) => settle(calls.map(() => ({ ok: false, error }))),
    );
  }

  /**
   * Runs a job. When a stacked job fails for a reason that may belong to one of its calls (bad
   * token ids, say), the calls are re-run one by one so each gets the outcome it would have had
   * alone: a call's result never depends on its batch-mates, errors included.
   */
  async #run(job: Job, calls: Pending[], timing: JobTiming): Promise<Outcome[]> {
    try {
      const results = await this.#executor.execute(job, timing);
      if (results.length !== calls.length) {
        throw new HfTasksError(
          'ERR_INTERNAL',
          `a job of ${calls.length} calls returned ${results.length} results`,
        );
      }
      return results.map((value) => ({ ok: true, value }));
    } catch (error) {
      if (calls.length === 1 || isEngineFailure(error)) return calls.map(() => ({ ok: false, error }));
    }
    const settled = await Promise.allSettled(
      calls.map(async (c) => {
        const solo: Job = { parts: [c.part] };
        if (job.outputs !== undefined) solo.outputs = job.outputs;
        const [result] = await this.#executor.execute(solo);
        if (result === undefined)
          throw new HfTasksError('ERR_INTERNAL', 'a job of one call returned no result');
        return result;
      }),
    );
    return settled.map((s) =>
      s.status === 'fulfilled' ? { ok: true, value: s.value } : { ok: false, error: s.reason },
    );
  }
}

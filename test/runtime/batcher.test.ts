import test from 'ava';
import { HfTasksError, QueueFullError, WorkerCrashedError } from '../../ts/errors.js';
import { type BatchLayout, batchLayout, type Job, type JobTiming } from '../../ts/runtime/batch.js';
import { Batcher, type JobExecutor, resolveBatchingOptions } from '../../ts/runtime/batcher.js';
import type { TensorLike } from '../../ts/runtime/runner.js';
import { values } from './engine-helpers.js';

const LAYOUT = batchLayout(
  [
    { name: 'input_ids', type: 'int64', shape: ['b', 's'] },
    { name: 'attention_mask', type: 'int64', shape: ['b', 's'] },
  ],
  [{ name: 'first', type: 'float32', shape: ['b'] }],
) as BatchLayout;

/** A call of `rows` x `len` whose rows all start with token `tag`. */
function call(tag: number, len: number, rows = 1): Record<string, TensorLike> {
  const ids = new BigInt64Array(rows * len).fill(BigInt(tag));
  return {
    input_ids: { type: 'int64', data: ids, dims: [rows, len] },
    attention_mask: { type: 'int64', data: new BigInt64Array(rows * len).fill(1n), dims: [rows, len] },
  };
}

/** An executor that holds every job until the test releases it; results echo each call's tag. */
class Gate implements JobExecutor {
  readonly jobs: Job[] = [];
  readonly #held: Array<() => void> = [];
  failWhen: ((job: Job) => Error | null) | null = null;

  constructor(readonly concurrency: number) {}

  execute(job: Job): Promise<Record<string, TensorLike>[]> {
    this.jobs.push(job);
    return new Promise((resolve, reject) => {
      this.#held.push(() => {
        const err = this.failWhen?.(job) ?? null;
        if (err !== null) return reject(err);
        resolve(
          job.parts.map((p) => {
            const ids = (p.feeds.input_ids as TensorLike).data as BigInt64Array;
            const dims = (p.feeds.input_ids as TensorLike).dims as [number, number];
            const first = Float32Array.from({ length: dims[0] }, (_, r) => Number(ids[r * dims[1]]));
            return { first: { type: 'float32', data: first, dims: [dims[0]] } };
          }),
        );
      });
    });
  }

  get held(): number {
    return this.#held.length;
  }

  /** Lets the oldest held job finish. */
  releaseOne(): void {
    this.#held.shift()?.();
  }

  async drain(): Promise<void> {
    while (this.#held.length > 0) {
      this.releaseOne();
      await new Promise((r) => setImmediate(r));
    }
  }
}

const tagOf = (r: Record<string, TensorLike>) => values(r.first)[0];
const jobTags = (job: Job) =>
  job.parts.map((p) => Number(((p.feeds.input_ids as TensorLike).data as BigInt64Array)[0]));

test('an idle model runs the first call at once, alone', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 1000 });
  const p = b.submit(call(1, 4));
  t.is(gate.jobs.length, 1, 'dispatched synchronously, no wait');
  t.is(gate.jobs[0]?.parts.length, 1);
  await gate.drain();
  t.is(tagOf(await p), 1);
});

test('an idle model waits for calls under way (tracked) and sends them as one job, not alone', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 10_000 });
  const ends = [b.track(), b.track(), b.track()];
  const p1 = b.submit(call(1, 4));
  t.is(gate.jobs.length, 0, 'two more calls are on their way');
  await new Promise((r) => setTimeout(r, 20));
  const p2 = b.submit(call(2, 4));
  t.is(gate.jobs.length, 0);
  const p3 = b.submit(call(3, 4));
  t.is(gate.jobs.length, 1, 'sent as soon as every call under way is queued, long before maxWaitMs');
  t.deepEqual(jobTags(gate.jobs[0] as Job), [1, 2, 3]);
  t.is(gate.jobs[0]?.alone, true, 'every call under way is in it: the job may take every core');
  await gate.drain();
  t.deepEqual([tagOf(await p1), tagOf(await p2), tagOf(await p3)], [1, 2, 3]);
  for (const end of ends) end();
});

test('the parts of one tracked call do not wait for company: nothing else is coming', async (t) => {
  const gate = new Gate(2);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 10_000 });
  const end = b.track();
  const parts = [b.submit(call(1, 4, 2), { part: true }), b.submit(call(2, 4, 2), { part: true })];
  t.is(gate.jobs.length, 2, 'both parts sent at once, one per worker');
  await gate.drain();
  t.deepEqual((await Promise.all(parts)).map(tagOf), [1, 2]);
  end();
});

test('a tracked call that ends without running frees the call waiting for it', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 10_000 });
  const endFirst = b.track();
  const endSecond = b.track();
  const p = b.submit(call(1, 4));
  t.is(gate.jobs.length, 0, 'waits for the second call');
  endSecond(); // it failed validation, say: it will never be queued
  t.is(gate.jobs.length, 1, 'sent at once');
  t.is(gate.jobs[0]?.alone, true, 'nothing else is under way: the job runs alone');
  endSecond(); // ending twice changes nothing
  await gate.drain();
  t.is(tagOf(await p), 1);
  endFirst();
});

test('a job is not alone while another tracked call is under way', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 0 });
  const ends = [b.track(), b.track()];
  const p = b.submit(call(1, 4));
  t.is(gate.jobs.length, 1, 'maxWaitMs 0: no wait for company');
  t.not(gate.jobs[0]?.alone, true, 'the other call may arrive while this one runs');
  await gate.drain();
  t.is(tagOf(await p), 1);
  for (const end of ends) end();
  const q = b.submit(call(2, 4));
  t.is(gate.jobs[1]?.alone, true, 'untracked and nothing else under way');
  await gate.drain();
  t.is(tagOf(await q), 2);
});

test('with several workers a job takes at most its share of the queue, so the rest goes to the next free worker', async (t) => {
  const gate = new Gate(2);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 0 });
  // Calls of 40 tokens: a share (half the queue) is worth more than a job's fixed cost.
  const all = [1, 2, 3, 4, 5, 6].map((tag) => b.submit(call(tag, 40)));
  t.deepEqual(gate.jobs.map(jobTags), [[1], [2]], 'both workers busy, four calls queued');
  gate.releaseOne();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(jobTags(gate.jobs[2] as Job), [3, 4], 'half of the queue, not all of it');
  gate.releaseOne();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(jobTags(gate.jobs[3] as Job), [5], 'one worker still busy: half of what is left');
  gate.releaseOne();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(jobTags(gate.jobs[4] as Job), [6]);
  await gate.drain();
  t.deepEqual((await Promise.all(all)).map(tagOf), [1, 2, 3, 4, 5, 6]);
});

test('a small queue is not split over the workers: one more job would cost more than it saves', async (t) => {
  const gate = new Gate(2);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 0 });
  const all = [1, 2, 3, 4, 5, 6].map((tag) => b.submit(call(tag, 8)));
  t.deepEqual(gate.jobs.map(jobTags), [[1], [2]]);
  gate.releaseOne();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(jobTags(gate.jobs[2] as Job), [3, 4, 5, 6], 'four short calls are one job');
  await gate.drain();
  t.deepEqual((await Promise.all(all)).map(tagOf), [1, 2, 3, 4, 5, 6]);
});

test('within the padding limit, calls are cut into the jobs of least cost (a fixed part per job plus padded tokens)', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 0, maxPadding: 1 });
  const blocker = b.submit(call(0, 1));
  // One job would be 6 x 40 tokens, mostly padding; two jobs cost one more fixed part.
  const lens = [4, 40, 5, 38, 4, 39];
  const pending = lens.map((len, i) => b.submit(call(i + 1, len)));
  await gate.drain();
  await Promise.all([blocker, ...pending]);
  t.deepEqual(gate.jobs.slice(1).map(jobTags), [
    [1, 5, 3],
    [4, 6, 2],
  ]);
});

test('calls that arrive while the model is busy are stacked, sorted by length, and each gets its own result', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, {
    maxWaitMs: 1000,
    maxBatchSize: 64,
    tokenBudget: 100000,
    maxPadding: 1,
  });
  const first = b.submit(call(100, 5));
  const lens = [9, 6, 7, 6, 10, 8];
  const rest = lens.map((len, i) => b.submit(call(i + 1, len)));
  t.is(gate.jobs.length, 1);
  t.is(b.queued, lens.length);
  gate.releaseOne();
  await first;
  await new Promise((r) => setImmediate(r));
  t.is(gate.jobs.length, 2, 'the waiting calls go as one job when the slot frees');
  const job = gate.jobs[1] as Job;
  t.truthy(job.layout);
  t.deepEqual(
    job.parts.map((p) => p.len),
    [...lens].sort((x, y) => x - y),
  );
  await gate.drain();
  const results = await Promise.all(rest);
  t.deepEqual(results.map(tagOf), [1, 2, 3, 4, 5, 6]);
  const stats = b.stats();
  t.is(stats.jobs, 2);
  t.is(stats.batchedCalls, 6);
  t.is(
    stats.tokens,
    lens.reduce((x, y) => x + y, 0),
  );
  t.is(stats.paddedTokens, 6 * 10);
});

test('jobs respect the token budget and the batch size, and the oldest call always goes next', async (t) => {
  const gate = new Gate(1);
  const opts = { maxWaitMs: 0, maxBatchSize: 4, tokenBudget: 40 };
  const b = new Batcher(gate, LAYOUT, opts);
  const blocker = b.submit(call(0, 1));
  const lens = [30, 2, 8, 8, 1, 9, 3, 10, 4, 7, 2, 6, 11, 5, 60];
  const pending = lens.map((len, i) => b.submit(call(i + 1, len, 1 + (i % 2))));
  const order: number[] = [];
  while (gate.held > 0) {
    gate.releaseOne();
    await new Promise((r) => setImmediate(r));
  }
  await blocker;
  await Promise.all(pending);
  for (const job of gate.jobs.slice(1)) {
    const rows = job.parts.reduce((n, p) => n + p.rows, 0);
    const len = Math.max(...job.parts.map((p) => p.len));
    if (job.parts.length > 1) {
      t.true(rows <= opts.maxBatchSize, `rows ${rows}`);
      t.true(rows * len <= opts.tokenBudget, `padded tokens ${rows * len}`);
    }
    order.push(...jobTags(job));
  }
  t.deepEqual(
    [...order].sort((x, y) => x - y),
    lens.map((_, i) => i + 1),
    'every call ran exactly once',
  );
  // FIFO anchor: the k-th job holds the oldest call not yet sent.
  const sent = new Set<number>();
  for (const job of gate.jobs.slice(1)) {
    const oldest = lens.map((_, i) => i + 1).find((tag) => !sent.has(tag));
    t.true(jobTags(job).includes(oldest as number));
    for (const tag of jobTags(job)) sent.add(tag);
  }
  t.true(
    gate.jobs.some((j) => j.parts.length > 1),
    'some calls were stacked',
  );
  t.is(gate.jobs.find((j) => jobTags(j).includes(15))?.parts.length, 1, 'an over-budget call runs alone');
});

test('calls of very different lengths are not stacked past the padding limit', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 0, maxPadding: 0.25 });
  const blocker = b.submit(call(0, 1));
  const lens = [10, 11, 12, 40, 41, 15];
  const pending = lens.map((len, i) => b.submit(call(i + 1, len)));
  await gate.drain();
  await Promise.all([blocker, ...pending]);
  for (const job of gate.jobs) {
    const rows = job.parts.reduce((n, p) => n + p.rows, 0);
    const padded = rows * Math.max(...job.parts.map((p) => p.len));
    const real = job.parts.reduce((n, p) => n + p.rows * p.len, 0);
    t.true(padded - real <= 0.25 * padded, `padding ${padded - real} of ${padded}`);
  }
  t.deepEqual(gate.jobs.slice(1).map(jobTags), [
    [1, 2, 3, 6],
    [4, 5],
  ]);
});

test('a busy model waits at most maxWaitMs for company, then sends what it has', async (t) => {
  const gate = new Gate(2);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 5 });
  const first = b.submit(call(1, 3));
  const second = b.submit(call(2, 3));
  t.is(gate.jobs.length, 1, 'the second call waits while the first runs');
  await new Promise((r) => setTimeout(r, 30));
  t.is(gate.jobs.length, 2, 'after the wait it runs without the first finishing');
  t.deepEqual(jobTags(gate.jobs[1] as Job), [2]);
  await gate.drain();
  t.is(tagOf(await first), 1);
  t.is(tagOf(await second), 2);
});

test('a full queue rejects with ERR_QUEUE_FULL and accepts again once drained', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, { maxQueue: 3, maxWaitMs: 0 });
  const running = b.submit(call(1, 2));
  const waiting = [b.submit(call(2, 2)), b.submit(call(3, 2)), b.submit(call(4, 2))];
  const err = await t.throwsAsync(() => b.submit(call(5, 2)), { instanceOf: QueueFullError });
  t.is(err?.code, 'ERR_QUEUE_FULL');
  t.is(b.stats().rejected, 1);
  await gate.drain();
  await Promise.all([running, ...waiting]);
  const again = b.submit(call(6, 2));
  await gate.drain();
  t.is(tagOf(await again), 6);
});

test('when a stacked job fails, its calls are re-run alone so a bad call fails alone', async (t) => {
  const gate = new Gate(1);
  const bad = new HfTasksError('ERR_MODEL_RUN', 'token id out of range');
  gate.failWhen = (job) => (jobTags(job).includes(13) ? bad : null);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 0 });
  const blocker = b.submit(call(1, 2));
  const others = [b.submit(call(11, 3)), b.submit(call(12, 4))];
  const poisoned = b.submit(call(13, 3));
  await gate.drain();
  await blocker;
  t.deepEqual((await Promise.all(others)).map(tagOf), [11, 12]);
  const err = await t.throwsAsync(poisoned);
  t.is(err, bad);
});

test('engine failures (a crashed worker) are not retried call by call', async (t) => {
  const gate = new Gate(1);
  const crash = new WorkerCrashedError('worker died');
  gate.failWhen = (job) => (job.parts.length > 1 ? crash : null);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 0 });
  const blocker = b.submit(call(1, 2));
  const stacked = [b.submit(call(2, 2)), b.submit(call(3, 2))];
  const settled = Promise.allSettled(stacked);
  await gate.drain();
  await blocker;
  for (const s of await settled) t.is(s.status === 'rejected' ? s.reason : null, crash);
  t.is(gate.jobs.length, 2, 'no solo re-runs');
});

test('without a layout every call is its own job', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, null, { maxWaitMs: 0 });
  t.false(b.batching);
  const calls = [1, 2, 3].map((tag) => b.submit(call(tag, 2)));
  await gate.drain();
  t.deepEqual((await Promise.all(calls)).map(tagOf), [1, 2, 3]);
  t.is(gate.jobs.length, 3);
  t.true(gate.jobs.every((j) => j.parts.length === 1 && j.layout === undefined));
});

test('calls asking for different outputs are not stacked together', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 0 });
  const blocker = b.submit(call(1, 2));
  const a = b.submit(call(2, 2), { outputs: ['first'] });
  const c = b.submit(call(3, 2));
  await gate.drain();
  await Promise.all([blocker, a, c]);
  t.deepEqual(gate.jobs.map(jobTags), [[1], [2], [3]]);
  t.deepEqual(gate.jobs[1]?.outputs, ['first']);
});

test('close rejects the waiting calls and refuses new ones', async (t) => {
  const gate = new Gate(1);
  const b = new Batcher(gate, LAYOUT, { maxWaitMs: 0 });
  const running = b.submit(call(1, 2));
  const waiting = b.submit(call(2, 2));
  const reason = new HfTasksError('ERR_DISPOSED', 'closed');
  b.close(reason);
  t.is(await t.throwsAsync(waiting), reason);
  t.is(await t.throwsAsync(b.submit(call(3, 2))), reason);
  await gate.drain();
  t.is(tagOf(await running), 1, 'the running job still finishes');
});

test('batching options are checked', (t) => {
  for (const bad of [
    { maxBatchSize: 0 },
    { tokenBudget: 1.5 },
    { maxQueue: -1 },
    { maxWaitMs: -1 },
    { maxPadding: 2 },
  ]) {
    const err = t.throws(() => resolveBatchingOptions(bad as never), { instanceOf: HfTasksError });
    t.is(err?.code, 'ERR_INVALID_ARGUMENT');
  }
  t.deepEqual(resolveBatchingOptions({ maxWaitMs: 0 }).maxWaitMs, 0);
});

test("the cost model learns from the executor's own timing of a job, not from its wait", async (t) => {
  // Each job "ran" for 0.1 ms per padded token plus a fixed 4 ms (40 tokens' worth), but the
  // executor answers after an unrelated wait (another model's job holding the worker).
  const executor: JobExecutor = {
    concurrency: 1,
    async execute(job: Job, timing?: JobTiming) {
      const shapes = job.parts.map((p) => (p.feeds.input_ids as TensorLike).dims as [number, number]);
      const rows = shapes.reduce((n, [r]) => n + r, 0);
      const len = Math.max(...shapes.map(([, l]) => l));
      await new Promise((r) => setTimeout(r, 2 + Math.floor(Math.random() * 6)));
      if (timing !== undefined) timing.runMs = 4 + 0.1 * rows * len;
      return job.parts.map((p) => {
        const n = ((p.feeds.input_ids as TensorLike).dims as number[])[0] as number;
        return { first: { type: 'float32', data: new Float32Array(n), dims: [n] } };
      });
    },
  };
  const b = new Batcher(executor, LAYOUT, { maxWaitMs: 0 });
  for (let round = 0; round < 12; round++) {
    // Bursts of different sizes, so that the stacked jobs spread over many token counts.
    const n = 2 + (round % 5) * 3;
    await Promise.all(Array.from({ length: n }, (_, i) => b.submit(call(i + 1, 3 + ((i * 7) % 11)))));
  }
  t.true(Math.abs(b.limits.fixedTokens - 40) < 0.5, `learned ${b.limits.fixedTokens}`);
});

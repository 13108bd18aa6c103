import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DeviceUnavailableError, HfTasksError, ModelError, WorkerCrashedError } from '../../ts/errors.js';
import type { Job, JobTiming } from '../../ts/runtime/batch.js';
import { defaultWorkerCount, threadsPerWorker, WorkerPool, workerExecArgv } from '../../ts/runtime/pool.js';
import type { TensorLike } from '../../ts/runtime/runner.js';
import { createSessionRunner, cudaProviderInstalled } from '../../ts/runtime/session.js';
import { maxAbsDiff, modelFacts, modelFile, tokenFeeds } from './engine-helpers.js';

const NER = modelFile('bert-ner');
const NER_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'];
const one = (feeds: Record<string, TensorLike>): Job => ({ parts: [{ feeds, rows: 0, len: 0 }] });
const nerFeeds = (seed: number, rows = 2, len = 12) =>
  tokenFeeds(NER_INPUTS, modelFacts('bert-ner'), rows, len, seed);

test('default sizing never oversubscribes the cores', (t) => {
  for (const cores of [1, 2, 3, 4, 8, 16, 64]) {
    const workers = defaultWorkerCount(cores);
    t.true(workers >= 1);
    t.true(workers * threadsPerWorker(workers, cores) <= Math.max(cores, 1), `${cores} cores`);
  }
});

test('pool lifecycle: load, run in a worker, unload, dispose', async (t) => {
  const pool = new WorkerPool({ workers: 2 });
  t.is(pool.size, 2);
  t.is(pool.threadIds.length, 2);
  const { key, info } = await pool.load(NER, { sessionOptions: { intraOpNumThreads: 1 } });
  t.deepEqual(info.inputNames, NER_INPUTS);
  t.deepEqual(info.outputNames, ['logits']);
  t.is(info.device, 'cpu');
  t.deepEqual(info.outputMetadata[0]?.shape, ['batch_size', 'sequence_length', 13]);

  const inline = await createSessionRunner(NER);
  const feeds = nerFeeds(1);
  const timing: JobTiming = {};
  const sent = performance.now();
  const [got] = await Promise.all([
    pool.execute(key, one(feeds), timing),
    pool.execute(key, one(nerFeeds(2))),
  ]);
  const wall = performance.now() - sent;
  t.true(
    timing.runMs !== undefined && timing.runMs > 0 && timing.runMs <= wall,
    `the worker's own run time (${timing.runMs} ms of ${wall} ms)`,
  );
  const want = await inline.run(feeds);
  t.is(maxAbsDiff(got?.[0]?.logits as TensorLike, want.logits as TensorLike), 0);
  t.is((feeds.input_ids as TensorLike).data.length, 24, "the caller's feeds stay usable (copied, not moved)");

  await pool.unload(key);
  const gone = await t.throwsAsync(pool.execute(key, one(feeds)), { instanceOf: ModelError });
  t.is(gone?.code, 'ERR_DISPOSED');

  await pool.dispose();
  await pool.dispose();
  t.true(pool.disposed);
  const after = await t.throwsAsync(pool.execute(key, one(feeds)), { instanceOf: ModelError });
  t.is(after?.code, 'ERR_DISPOSED');
  await t.throwsAsync(pool.load(NER), { instanceOf: ModelError });
  await inline.dispose();
});

for (const fault of ['throw', 'exit'] as const) {
  test(`a worker that dies (${fault}) fails its call with ERR_WORKER_CRASHED and is replaced`, async (t) => {
    const pool = new WorkerPool({ workers: 1, faultInjection: true });
    t.teardown(() => pool.dispose());
    const { key } = await pool.load(NER);
    const before = pool.threadIds;
    pool.injectFault(0, fault);
    const err = await t.throwsAsync(pool.execute(key, one(nerFeeds(3))), { instanceOf: WorkerCrashedError });
    t.is(err?.code, 'ERR_WORKER_CRASHED');
    t.regex(err?.message ?? '', fault === 'throw' ? /injected worker fault/ : /exit code 70/);
    t.is(pool.restarts, 1);
    t.notDeepEqual(pool.threadIds, before, 'a new thread took the slot');
    // The replacement reopened the model: the next call works and is right.
    const feeds = nerFeeds(4);
    const [res] = await pool.execute(key, one(feeds));
    const inline = await createSessionRunner(NER);
    t.is(maxAbsDiff(res?.logits as TensorLike, (await inline.run(feeds)).logits as TensorLike), 0);
    await inline.dispose();
  });
}

test('a slot that keeps crashing is given up and its calls fail instead of hanging', async (t) => {
  const pool = new WorkerPool({ workers: 1, faultInjection: true });
  t.teardown(() => pool.dispose());
  const { key } = await pool.load(NER);
  for (let i = 0; i < 4; i++) {
    pool.injectFault(0, 'exit');
    await t.throwsAsync(pool.execute(key, one(nerFeeds(i))), { instanceOf: WorkerCrashedError });
  }
  t.is(pool.threadIds.length, 0);
  const err = await t.throwsAsync(pool.execute(key, one(nerFeeds(9))), { instanceOf: WorkerCrashedError });
  t.regex(err?.message ?? '', /no live worker/);
});

test('fault injection is refused unless the pool was created for it', async (t) => {
  const pool = new WorkerPool({ workers: 1 });
  t.teardown(() => pool.dispose());
  t.throws(() => pool.injectFault(0, 'throw'), { instanceOf: HfTasksError });
});

test('the event loop stays free while a worker computes a long job', async (t) => {
  const pool = new WorkerPool({ workers: 1 });
  t.teardown(() => pool.dispose());
  const model = modelFile('bert-encoder');
  const { key, info } = await pool.load(model, { sessionOptions: { intraOpNumThreads: 1 } });
  const feeds = tokenFeeds(info.inputNames, modelFacts('bert-encoder'), 256, 64, 5);
  let pending = true;
  let ticksWhilePending = 0;
  const timer = setInterval(() => {
    if (pending) ticksWhilePending++;
  }, 1);
  const [res] = await pool.execute(key, one(feeds));
  pending = false;
  clearInterval(timer);
  t.deepEqual(res?.last_hidden_state?.dims, [256, 64, 32]);
  t.true(ticksWhilePending > 0, 'a timer fired while the network ran');
});

test('worker errors arrive typed: bad model file, bad feeds, bad options; the worker survives', async (t) => {
  const pool = new WorkerPool({ workers: 1 });
  t.teardown(() => pool.dispose());
  const missing = await t.throwsAsync(pool.load('/nonexistent/model.onnx'), { instanceOf: ModelError });
  t.is(missing?.code, 'ERR_MODEL_LOAD');
  const level = await t.throwsAsync(
    pool.load(NER, { sessionOptions: { graphOptimizationLevel: 'fastest' as never } }),
    { instanceOf: HfTasksError },
  );
  t.is(level?.code, 'ERR_INVALID_ARGUMENT');
  const { key } = await pool.load(NER);
  const { token_type_ids: _, ...partial } = nerFeeds(1);
  const run = await t.throwsAsync(pool.execute(key, one(partial)), { instanceOf: ModelError });
  t.is(run?.code, 'ERR_MODEL_RUN');
  t.is(pool.restarts, 0);
  const [ok] = await pool.execute(key, one(nerFeeds(2)));
  t.deepEqual(ok?.logits?.dims, [2, 12, 13]);
});

test("device 'cuda' passes through to the worker: typed error without the CUDA provider, CPU on fallback", async (t) => {
  const pool = new WorkerPool({ workers: 1 });
  t.teardown(() => pool.dispose());
  const fallback = await pool.load(NER, { device: 'cuda', deviceFallback: true });
  if (cudaProviderInstalled()) {
    t.is(fallback.info.device, 'cuda');
    return;
  }
  t.is(fallback.info.device, 'cpu');
  const err = await t.throwsAsync(pool.load(NER, { device: 'cuda' }), { instanceOf: DeviceUnavailableError });
  t.is(err?.code, 'ERR_DEVICE_UNAVAILABLE');
  t.regex(err?.message ?? '', /--onnxruntime-node-install=cuda12/);
});

test('bad pool options are refused', (t) => {
  for (const workers of [0, -1, 1.5]) {
    const err = t.throws(() => new WorkerPool({ workers }), { instanceOf: HfTasksError });
    t.is(err?.code, 'ERR_INVALID_ARGUMENT');
  }
});

test("workers start with the parent's Node options, less those only the main script may take", (t) => {
  t.deepEqual(
    workerExecArgv([
      '--input-type=module',
      '-e',
      'x',
      '--import',
      'tsx',
      '--input-type',
      'commonjs',
      '--max-old-space-size=100',
    ]),
    ['-e', 'x', '--import', 'tsx', '--max-old-space-size=100'],
  );
  t.deepEqual(workerExecArgv([]), []);
});

test('a worker started from a file works under `node --input-type=module -e` with the filtered options (and fails with them all)', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-exec-argv-'));
  try {
    const entry = path.join(dir, 'echo.mjs');
    writeFileSync(entry, "import { parentPort } from 'node:worker_threads'; parentPort.postMessage('up');\n");
    const pool = new URL('../../ts/runtime/pool.ts', import.meta.url).href;
    const code = `
      import { Worker } from 'node:worker_threads';
      const { workerExecArgv } = await import(${JSON.stringify(pool)});
      const start = (execArgv) => new Promise((resolve) => {
        const w = new Worker(${JSON.stringify(entry)}, { execArgv });
        w.once('message', (m) => w.terminate().then(() => resolve(m)));
        w.once('error', (e) => resolve('error: ' + e.message));
      });
      console.log(JSON.stringify({
        filtered: await start(workerExecArgv(process.execArgv)),
        inherited: await start(process.execArgv),
      }));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.is(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
      filtered: string;
      inherited: string;
    };
    t.is(got.filtered, 'up');
    t.regex(got.inherited, /^error: .*input-type/, 'what the engine avoids');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runBeside runs only on an idle pool and holds the pool jobs back until it ends', async (t) => {
  const pool = new WorkerPool({ workers: 1 });
  t.teardown(() => pool.dispose());
  const { key } = await pool.load(NER, { sessionOptions: { intraOpNumThreads: 1 } });
  const order: string[] = [];
  let release: () => void = () => undefined;
  const beside = pool.runBeside(
    () =>
      new Promise<void>((resolve) => {
        release = () => {
          order.push('beside');
          resolve();
        };
      }),
  );
  t.not(beside, null, 'an idle pool runs it');
  t.is(pool.besideJobs, 1);
  t.is(
    pool.runBeside(async () => undefined),
    null,
    'not while another runs beside',
  );
  const held = pool.execute(key, one(nerFeeds(3))).then(() => order.push('pool job'));
  await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(order, [], 'the pool job waits');
  t.is(pool.queued, 1);
  release();
  await Promise.all([beside, held]);
  t.deepEqual(order, ['beside', 'pool job']);
  // A busy pool refuses it; a job that throws at once is a rejection that frees the pool.
  const busy = pool.execute(key, one(nerFeeds(4)));
  t.is(
    pool.runBeside(async () => undefined),
    null,
  );
  await busy;
  const thrown = pool.runBeside(() => {
    throw new Error('boom');
  });
  await t.throwsAsync(thrown as Promise<unknown>, { message: 'boom' });
  await pool.execute(key, one(nerFeeds(5)));
  t.is(pool.besideJobs, 2);
  await pool.dispose();
  t.is(
    pool.runBeside(async () => undefined),
    null,
    'a disposed pool refuses it',
  );
});

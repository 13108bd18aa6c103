import test from 'ava';
import { HfTasksError, ModelError, QueueFullError } from '../../ts/errors.js';
import { createEngineRunner, type EngineRunner, shutdownEngine } from '../../ts/runtime/engine.js';
import { WorkerPool } from '../../ts/runtime/pool.js';
import type { TensorLike } from '../../ts/runtime/runner.js';
import { createSessionRunner } from '../../ts/runtime/session.js';
import { fixtureModels, maxAbsDiff, modelFacts, modelFile, rng, tokenFeeds } from './engine-helpers.js';

test.after.always(() => shutdownEngine());

/** Ten calls of mixed rows and lengths (each with its own caller-side padding). */
function mixedCalls(model: string, inputNames: string[], seed: number): Array<Record<string, TensorLike>> {
  const facts = modelFacts(model);
  const next = rng(seed);
  return Array.from({ length: 10 }, (_, i) =>
    tokenFeeds(inputNames, facts, 1 + Math.floor(next() * 3), 2 + Math.floor(next() * 40), seed * 100 + i),
  );
}

/** Runs the calls concurrently on `runner`, and one by one on an inline unbatched session. */
async function compare(model: string, runner: EngineRunner, seed: number) {
  const inline = await createSessionRunner(modelFile(model));
  try {
    const calls = mixedCalls(model, runner.inputNames, seed);
    const batched = await Promise.all(calls.map((f) => runner.run(f)));
    let worst = 0;
    let shapes = true;
    for (const [i, feeds] of calls.entries()) {
      const alone = await inline.run(feeds);
      const got = batched[i] as Record<string, TensorLike>;
      if (Object.keys(got).join() !== Object.keys(alone).join()) shapes = false;
      for (const name of Object.keys(alone)) {
        const d = maxAbsDiff(got[name] as TensorLike, alone[name] as TensorLike);
        if (!Number.isFinite(d)) shapes = false;
        worst = Math.max(worst, d);
      }
    }
    return { worst, shapes };
  } finally {
    await inline.dispose();
  }
}

for (const model of fixtureModels()) {
  test(`${model}: a batched result equals the unbatched one (pooled)`, async (t) => {
    const runner = await createEngineRunner(modelFile(model), {
      workers: 1,
      batching: { maxWaitMs: 50 },
      padTokenId: modelFacts(model).padId,
    });
    t.teardown(() => runner.dispose());
    t.true(runner.batching, 'the fixture graph is batchable');
    const { worst, shapes } = await compare(model, runner, 11);
    t.true(shapes, 'same outputs, same dims');
    t.true(worst <= 1e-5, `max abs diff ${worst}`);
    const stats = runner.stats();
    t.true(stats.batchedCalls >= 2, 'calls were actually stacked');
    t.true(stats.jobs < 10);
  });
}

test('inline mode batches too, with the same results', async (t) => {
  for (const model of ['bert-qa', 'roberta-ner', 'st-encoder']) {
    const runner = await createEngineRunner(modelFile(model), {
      inline: true,
      padTokenId: modelFacts(model).padId,
    });
    t.is(runner.mode, 'inline');
    const { worst, shapes } = await compare(model, runner, 12);
    t.true(shapes);
    t.true(worst <= 1e-5, `${model}: max abs diff ${worst}`);
    t.true(runner.stats().batchedCalls >= 2);
    await runner.dispose();
  }
});

test('batching: false runs each call alone with the same results', async (t) => {
  const runner = await createEngineRunner(modelFile('bert-mlm'), { workers: 1, batching: false });
  t.teardown(() => runner.dispose());
  t.false(runner.batching);
  const { worst, shapes } = await compare('bert-mlm', runner, 13);
  t.true(shapes);
  t.true(worst <= 1e-5);
  t.is(runner.stats().batchedCalls, 0);
  t.is(runner.stats().jobs, 10);
});

test('the queue limit rejects excess calls with ERR_QUEUE_FULL', async (t) => {
  const runner = await createEngineRunner(modelFile('bert-ner'), { workers: 1, batching: { maxQueue: 2 } });
  t.teardown(() => runner.dispose());
  const calls = mixedCalls('bert-ner', runner.inputNames, 14).slice(0, 5);
  const settled = await Promise.allSettled(calls.map((f) => runner.run(f)));
  // One call runs at once, two wait, the other two find the queue full.
  t.deepEqual(
    settled.map((s) => s.status),
    ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected'],
  );
  for (const s of settled.slice(3)) {
    const reason = (s as PromiseRejectedResult).reason as QueueFullError;
    t.true(reason instanceof QueueFullError);
    t.is(reason.code, 'ERR_QUEUE_FULL');
  }
});

test('several runners share one pool; dispose ends a runner, not its neighbours', async (t) => {
  const pool = new WorkerPool({ workers: 2 });
  t.teardown(() => pool.dispose());
  const a = await createEngineRunner(modelFile('bert-sentiment'), { pool });
  const b = await createEngineRunner(modelFile('bert-nli'), { pool });
  t.is(a.mode, 2);
  const fa = mixedCalls('bert-sentiment', a.inputNames, 15)[0] as Record<string, TensorLike>;
  const fb = mixedCalls('bert-nli', b.inputNames, 16)[0] as Record<string, TensorLike>;
  const [ra, rb] = await Promise.all([a.run(fa), b.run(fb)]);
  t.is(ra.logits?.dims[1], 3);
  t.is(rb.logits?.dims[1], 3);
  await a.dispose();
  await a.dispose();
  const err = await t.throwsAsync(a.run(fa), { instanceOf: ModelError });
  t.is(err?.code, 'ERR_DISPOSED');
  t.deepEqual((await b.run(fb)).logits?.dims, rb.logits?.dims);
  await b.dispose();
  t.false(pool.disposed, 'an explicit pool belongs to the caller');
});

test('session options pass through to the workers', async (t) => {
  const runner = await createEngineRunner(modelFile('bert-regression'), {
    workers: 1,
    sessionOptions: {
      graphOptimizationLevel: 'disabled',
      intraOpNumThreads: 1,
      enableCpuMemArena: false,
      enableMemPattern: false,
      configEntries: { 'session.intra_op.allow_spinning': '0' },
    },
  });
  t.teardown(() => runner.dispose());
  const { worst } = await compare('bert-regression', runner, 17);
  t.true(worst <= 1e-5);
  for (const configEntries of [[], { 'session.intra_op.allow_spinning': 0 }]) {
    const err = await t.throwsAsync(
      createEngineRunner(modelFile('bert-regression'), {
        workers: 1,
        sessionOptions: { configEntries } as never,
      }),
      { instanceOf: HfTasksError },
    );
    t.is(err?.code, 'ERR_INVALID_ARGUMENT', JSON.stringify(configEntries));
    t.regex(err?.message ?? '', /configEntries/);
  }
  const bad = await t.throwsAsync(
    createEngineRunner(modelFile('bert-regression'), {
      workers: 1,
      sessionOptions: { intraOpNumThreads: -2 },
    }),
    { instanceOf: HfTasksError },
  );
  t.is(bad?.code, 'ERR_INVALID_ARGUMENT');
});

test('engine options are checked', async (t) => {
  for (const options of [
    { workers: -1 },
    { workers: 1.5 },
    { batching: 'yes' },
    { padTokenId: -3 },
    { soloSession: 'worker' },
  ]) {
    const err = await t.throwsAsync(createEngineRunner(modelFile('bert-ner'), options as never), {
      instanceOf: HfTasksError,
    });
    t.is(err?.code, 'ERR_INVALID_ARGUMENT');
  }
  const batching = await t.throwsAsync(
    createEngineRunner(modelFile('bert-ner'), { batching: { maxBatchSize: 0 } }),
  );
  t.is((batching as HfTasksError).code, 'ERR_INVALID_ARGUMENT');
});

test('a lone call runs on the all-cores solo session of worker 0; parts of one call and concurrent calls do not', async (t) => {
  const model = fixtureModels()[0] as string;
  const pool = new WorkerPool({ workers: 2 });
  t.teardown(() => pool.dispose());
  const runner = await createEngineRunner(modelFile(model), {
    pool,
    soloSession: true,
    // No wait for company: a call submitted while another runs is sent at once (not alone).
    batching: { maxWaitMs: 0 },
    padTokenId: modelFacts(model).padId,
  });
  t.teardown(() => runner.dispose());
  const { availableCores } = await import('../../ts/runtime/pool.js');
  const feeds = tokenFeeds(runner.inputNames, modelFacts(model), 1, 12, 7);
  const inline = await createSessionRunner(modelFile(model));
  t.teardown(() => inline.dispose());
  const want = await inline.run(feeds);
  const got = await runner.run(feeds);
  for (const name of Object.keys(want)) {
    t.true(maxAbsDiff(got[name] as TensorLike, want[name] as TensorLike) <= 1e-5, name);
  }
  if (availableCores() < 2) {
    t.is(pool.soloJobs, 0, 'one core: no solo session');
    return;
  }
  t.is(pool.soloJobs, 1, 'the lone call ran with every core');
  // Two parts of one call, then two calls at once: none alone.
  await Promise.all([runner.run(feeds, { part: true }), runner.run(feeds, { part: true })]);
  t.is(pool.soloJobs, 1);
  const other = tokenFeeds(runner.inputNames, modelFacts(model), 2, 30, 8);
  await Promise.all([runner.run(feeds), runner.run(other, { outputs: [...runner.outputNames].slice(0, 1) })]);
  t.is(pool.soloJobs, 2, 'only the first of two calls found the engine idle');
});

test('calls of a burst (tracked as under way) wait for each other and never take the solo session', async (t) => {
  const { availableCores } = await import('../../ts/runtime/pool.js');
  const model = fixtureModels()[0] as string;
  const pool = new WorkerPool({ workers: 2 });
  t.teardown(() => pool.dispose());
  const runner = await createEngineRunner(modelFile(model), {
    pool,
    soloSession: true,
    batching: { maxWaitMs: 50 },
    padTokenId: modelFacts(model).padId,
  });
  t.teardown(() => runner.dispose());
  const facts = modelFacts(model);
  const feeds = (i: number) => tokenFeeds(runner.inputNames, facts, 1, 10 + i, 5 + i);
  const ends = [runner.track(), runner.track(), runner.track()];
  // Two arrive; the third is still on its way when maxWaitMs runs out.
  await Promise.all([runner.run(feeds(0)), runner.run(feeds(1))]);
  await runner.run(feeds(2));
  t.is(pool.soloJobs, 0, 'no job ran alone while other calls were under way');
  for (const end of ends) end();
  const end = runner.track();
  await runner.run(feeds(3));
  end();
  t.is(pool.soloJobs, availableCores() < 2 ? 0 : 1, 'a lone call still gets every core');
});

test('soloSession: false or threads chosen by the caller: no solo session; a small graph gets one in the calling thread', async (t) => {
  const model = fixtureModels()[0] as string;
  const cases: Array<[Record<string, unknown>, number]> = [
    // A fixture graph is under 4 MiB: its lone calls run inline by default.
    [{}, 1],
    [{ soloSession: 'inline' }, 1],
    [{ soloSession: false }, 0],
    [{ sessionOptions: { intraOpNumThreads: 1 } }, 0],
  ];
  for (const [options, inlineJobs] of cases) {
    const pool = new WorkerPool({ workers: 2 });
    const runner = await createEngineRunner(modelFile(model), { pool, ...options });
    await runner.run(tokenFeeds(runner.inputNames, modelFacts(model), 1, 8, 3));
    t.is(pool.soloJobs, 0, JSON.stringify(options));
    t.is(runner.inlineJobs, inlineJobs, JSON.stringify(options));
    t.is(pool.besideJobs, inlineJobs, JSON.stringify(options));
    await runner.dispose();
    await pool.dispose();
  }
});

test('soloSession inline: a lone call runs in the calling thread with the same outputs; parts of one call and concurrent calls go to the workers', async (t) => {
  const pool = new WorkerPool({ workers: 2 });
  t.teardown(() => pool.dispose());
  for (const model of fixtureModels()) {
    const runner = await createEngineRunner(modelFile(model), {
      pool,
      soloSession: 'inline',
      batching: { maxWaitMs: 0 },
      padTokenId: modelFacts(model).padId,
    });
    const plain = await createSessionRunner(modelFile(model));
    try {
      const feeds = tokenFeeds(runner.inputNames, modelFacts(model), 1, 12, 7);
      const want = await plain.run(feeds);
      const got = await runner.run(feeds);
      for (const name of Object.keys(want)) {
        t.true(maxAbsDiff(got[name] as TensorLike, want[name] as TensorLike) <= 1e-5, `${model} ${name}`);
      }
      t.is(runner.inlineJobs, 1, model);
      await Promise.all([runner.run(feeds, { part: true }), runner.run(feeds, { part: true })]);
      t.is(runner.inlineJobs, 1, `${model}: parts of one call`);
      const other = tokenFeeds(runner.inputNames, modelFacts(model), 2, 30, 8);
      const [a, b] = await Promise.all([runner.run(feeds), runner.run(other)]);
      t.is(runner.inlineJobs, 2, `${model}: only the first of two calls found the engine idle`);
      const wantOther = await plain.run(other);
      for (const name of Object.keys(want)) {
        t.true(maxAbsDiff(a[name] as TensorLike, want[name] as TensorLike) <= 1e-5, `${model} ${name}`);
        t.true(maxAbsDiff(b[name] as TensorLike, wantOther[name] as TensorLike) <= 1e-5, `${model} ${name}`);
      }
      t.is(pool.soloJobs, 0);
    } finally {
      await plain.dispose();
      await runner.dispose();
    }
  }
});

test('soloSession inline: a dispose lets the lone call running in the calling thread finish', async (t) => {
  const model = fixtureModels()[0] as string;
  const pool = new WorkerPool({ workers: 2 });
  t.teardown(() => pool.dispose());
  const runner = await createEngineRunner(modelFile(model), { pool, soloSession: 'inline' });
  const feeds = tokenFeeds(runner.inputNames, modelFacts(model), 1, 6, 2);
  const plain = await createSessionRunner(modelFile(model));
  t.teardown(() => plain.dispose());
  const want = await plain.run(feeds);
  const running = runner.run(feeds);
  const closing = runner.dispose();
  const got = await running;
  await closing;
  t.is(runner.inlineJobs, 1);
  for (const name of Object.keys(want)) {
    t.true(maxAbsDiff(got[name] as TensorLike, want[name] as TensorLike) <= 1e-5, name);
  }
  const err = await t.throwsAsync(runner.run(feeds), { instanceOf: ModelError });
  t.is(err?.code, 'ERR_DISPOSED');
});

test('soloSession inline: a lone call that fails gets its typed error and frees the engine', async (t) => {
  const model = fixtureModels()[0] as string;
  const pool = new WorkerPool({ workers: 2 });
  t.teardown(() => pool.dispose());
  const runner = await createEngineRunner(modelFile(model), { pool, soloSession: 'inline' });
  t.teardown(() => runner.dispose());
  const feeds = tokenFeeds(runner.inputNames, modelFacts(model), 1, 6, 2);
  const bad = { ...feeds, input_ids: { ...(feeds.input_ids as TensorLike), dims: [1, 7] } };
  const err = await t.throwsAsync(runner.run(bad));
  t.true(err instanceof ModelError, String(err));
  t.is((err as ModelError).code, 'ERR_MODEL_RUN');
  t.is(runner.inlineJobs, 1);
  const ok = await runner.run(feeds);
  t.truthy(ok[runner.outputNames[0] as string]);
  t.is(runner.inlineJobs, 2);
});

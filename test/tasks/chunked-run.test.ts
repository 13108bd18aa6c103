import test from 'ava';
import { loadModel } from '../../ts/runtime/model.js';
import type { ModelRunner, RunOptions, TensorLike } from '../../ts/runtime/runner.js';
import { runRows } from '../../ts/tasks/chunked-run.js';
import { modelDir } from './goldens.js';

test('chunked rows stack to the outputs of one run, and each run stays within the limits', async (t) => {
  const model = await loadModel(modelDir('bert-qa'));
  try {
    const texts = Array.from({ length: 11 }, (_, i) => `Sentence number ${i} ${'word '.repeat(i)}`);
    const enc = await model.tokenizer.encodeBatch(texts, { padding: 'longest' });
    const [n, len] = enc.dims;
    const whole = await runRows(model, enc, ['start_logits', 'end_logits']);

    // Record the batches the runner sees.
    const seen: number[][] = [];
    const inner = model.runner;
    const spy: ModelRunner = {
      inputNames: inner.inputNames,
      outputNames: inner.outputNames,
      run: (feeds: Record<string, TensorLike>, opts?: RunOptions) => {
        seen.push((feeds.input_ids as TensorLike).dims);
        return inner.run(feeds, opts);
      },
      dispose: () => inner.dispose(),
    };
    const chunked = await runRows({ ...model, runner: spy }, enc, ['start_logits', 'end_logits'], {
      rows: 4,
      tokens: 1_000_000,
    });
    t.deepEqual(
      seen.map((d) => d[0]),
      [4, 4, 3],
    );
    t.true(seen.every((d) => d[1] === len));
    for (const name of ['start_logits', 'end_logits']) {
      const a = whole[name] as TensorLike;
      const b = chunked[name] as TensorLike;
      t.deepEqual(b.dims, [n, len]);
      t.deepEqual(a.dims, b.dims);
      const d = (a.data as Float32Array).reduce(
        (m, v, i) => Math.max(m, Math.abs(v - (b.data[i] as number))),
        0,
      );
      t.true(d < 1e-5, `${name} differs by ${d}`);
    }

    // The token budget also bounds a run: 2 rows of `len` tokens fit 2 * len.
    seen.length = 0;
    await runRows({ ...model, runner: spy }, enc, ['start_logits'], { rows: 100, tokens: 2 * len + 1 });
    t.true(seen.every((d) => (d[0] as number) <= 2));
    t.is(
      seen.reduce((s, d) => s + (d[0] as number), 0),
      n,
    );
  } finally {
    await model.dispose();
  }
});

test("without explicit limits, chunks follow the runner's batch limits (the engine's batching options)", async (t) => {
  const { engineRunnerFactory } = await import('../../ts/runtime/engine.js');
  const factory = engineRunnerFactory({ workers: 0, batching: { maxBatchSize: 3, tokenBudget: 100_000 } });
  const model = await loadModel(modelDir('bert-qa'), { createRunner: factory });
  try {
    t.deepEqual(model.runner.batchLimits, { rows: 3, tokens: 100_000 });
    const texts = Array.from({ length: 7 }, (_, i) => `Sentence number ${i}`);
    const enc = await model.tokenizer.encodeBatch(texts, { padding: 'longest' });
    const seen: number[] = [];
    const inner = model.runner;
    const spy: ModelRunner = {
      inputNames: inner.inputNames,
      outputNames: inner.outputNames,
      ...(inner.batchLimits !== undefined && { batchLimits: inner.batchLimits }),
      run: (feeds: Record<string, TensorLike>, opts?: RunOptions) => {
        seen.push((feeds.input_ids as TensorLike).dims[0] as number);
        return inner.run(feeds, opts);
      },
      dispose: () => inner.dispose(),
    };
    await runRows({ ...model, runner: spy }, enc, ['start_logits']);
    t.deepEqual(seen, [3, 3, 1]);
  } finally {
    await model.dispose();
  }
});

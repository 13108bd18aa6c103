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
    t.deepEqual(model.runner.batchLimits, { rows: 3, tokens: 100_000, padding: 0.5, fixedTokens: 16 });
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

test('on an engine that stacks calls, rows of different lengths run in length groups cut to their own length', async (t) => {
  const { engineRunnerFactory } = await import('../../ts/runtime/engine.js');
  const factory = engineRunnerFactory({ workers: 0 });
  const model = await loadModel(modelDir('bert-ner'), { createRunner: factory });
  const plain = await loadModel(modelDir('bert-ner'));
  try {
    const texts = [
      'A much longer sentence with quite a few more words in it than the others',
      'Short one',
      'Medium length text here',
      'Tiny',
      'Another rather long sentence that goes on for a while, like the first',
    ];
    const enc = await model.tokenizer.encodeBatch(texts, { padding: 'longest' });
    const [n, len] = enc.dims;
    const lengths = Array.from({ length: n }, (_, r) =>
      enc.attentionMask.subarray(r * len, (r + 1) * len).reduce((a, m) => a + Number(m), 0),
    );
    const seen: number[][] = [];
    const inner = model.runner;
    const spy: ModelRunner = {
      inputNames: inner.inputNames,
      outputNames: inner.outputNames,
      outputSeqAxes: inner.outputSeqAxes ?? null,
      run: (feeds: Record<string, TensorLike>, opts?: RunOptions) => {
        seen.push([...(feeds.input_ids as TensorLike).dims]);
        return inner.run(feeds, opts);
      },
      dispose: () => inner.dispose(),
    };
    const logits = plain.runner.outputNames[0] as string;
    const grouped = await runRows({ ...model, runner: spy }, enc, [logits]);
    t.true(seen.length > 1, 'several groups');
    t.true(
      seen.some((d) => (d[1] as number) < len),
      'the short rows run at their own length',
    );
    t.is(
      seen.reduce((a, d) => a + (d[0] as number), 0),
      n,
    );
    // Each row equals the row run alone at its own length (real positions; what lies past them
    // is padding nothing reads).
    const out = grouped[logits] as TensorLike;
    t.deepEqual(out.dims.slice(0, 2), [n, len]);
    const labels = out.dims[2] as number;
    for (let r = 0; r < n; r++) {
      const alone = await plain.tokenizer.encodeBatch([texts[r] as string], {});
      const want = (await runRows(plain, alone, [logits]))[logits] as TensorLike;
      const l = lengths[r] as number;
      t.is(want.dims[1], l);
      for (let k = 0; k < l * labels; k++) {
        const d = Math.abs((out.data[r * len * labels + k] as number) - (want.data[k] as number));
        if (d > 1e-5) {
          t.fail(`row ${r} position ${k}: ${d}`);
          return;
        }
      }
    }
    // Left-padded rows are never cut: one run of the whole call.
    seen.length = 0;
    const left = await model.tokenizer.encodeBatch(texts, { padding: 'longest', paddingSide: 'left' });
    await runRows({ ...model, runner: spy }, left, [logits]);
    t.deepEqual(seen, [[n, len]]);
  } finally {
    await model.dispose();
    await plain.dispose();
  }
});

import { readFileSync } from 'node:fs';
import test from 'ava';
import { cosineSimilarity, cosineSimilarityMatrix, l2Normalize, NativeError } from '../../ts/index.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof NativeError) return err.code;
    return `not a NativeError: ${String(err)}`;
  }
  return undefined;
}

const close = (a: number, b: number, tol = 1e-6) => Math.abs(a - b) <= tol;

test('l2Normalize gives unit rows and leaves zero rows at zero', (t) => {
  const out = l2Normalize(new Float32Array([3, 4, 0, 0]), 2, 2);
  t.true(close(out[0]!, 0.6) && close(out[1]!, 0.8));
  t.deepEqual([...out.subarray(2)], [0, 0]);
});

test('cosineSimilarity compares one query with many rows, in order', (t) => {
  const out = cosineSimilarity(new Float32Array([1, 0]), new Float32Array([2, 0, 0, 5, -1, 0, 1, 1]), 4, 2);
  t.deepEqual([...out.subarray(0, 3)], [1, 0, -1]);
  t.true(close(out[3]!, Math.SQRT1_2));
});

test('cosineSimilarityMatrix is row-major and agrees with the one-to-many form', (t) => {
  const a = new Float32Array([1, 0, 0, 1, 0.3, -2]);
  const b = new Float32Array([0, 3, 4, 0, 1, 1]);
  const m = cosineSimilarityMatrix(a, 3, b, 3, 2);
  t.is(m.length, 9);
  for (let r = 0; r < 3; r++) {
    const row = cosineSimilarity(a.subarray(2 * r, 2 * r + 2), b, 3, 2);
    t.deepEqual([...m.subarray(3 * r, 3 * r + 3)], [...row]);
  }
  t.true(close(m[1]!, 1));
});

type Case = {
  batch: number;
  dim: number;
  pooled: { mean: number[] };
  normalized_mean: number[];
  other: number[];
  cos_sim_mean_other: number[];
};

test('normalisation and cosine match the sentence-transformers goldens', (t) => {
  const golden = JSON.parse(
    readFileSync(new URL('../fixtures/goldens/pooling.json', import.meta.url), 'utf8'),
  ) as { cases: Case[] };
  for (const c of golden.cases) {
    const mean = new Float32Array(c.pooled.mean);
    const norm = l2Normalize(mean, c.batch, c.dim);
    norm.forEach((v, i) => {
      t.true(close(v, c.normalized_mean[i]!, 1e-6));
    });
    const other = new Float32Array(c.other);
    const rows = other.length / c.dim;
    const m = cosineSimilarityMatrix(mean, c.batch, other, rows, c.dim);
    t.is(m.length, c.cos_sim_mean_other.length);
    m.forEach((v, i) => {
      t.true(close(v, c.cos_sim_mean_other[i]!, 1e-6), `${v} vs ${c.cos_sim_mean_other[i]}`);
    });
  }
});

test('hostile input raises typed errors', (t) => {
  t.is(
    code(() => l2Normalize(new Float32Array(5), 2, 3)),
    'ERR_DIMS',
  );
  t.is(
    code(() => l2Normalize(new Float32Array([1, Number.NaN]), 1, 2)),
    'ERR_NON_FINITE',
  );
  t.is(
    code(() => cosineSimilarity(new Float32Array(3), new Float32Array(2), 1, 2)),
    'ERR_DIMS',
  );
  t.is(
    code(() => cosineSimilarity(new Float32Array([1, Number.NEGATIVE_INFINITY]), new Float32Array(2), 1, 2)),
    'ERR_NON_FINITE',
  );
  t.is(
    code(() => cosineSimilarity(new Float32Array(0), new Float32Array(0), 2 ** 32 - 1, 0)),
    'ERR_DIMS',
  );
  t.is(
    code(() => cosineSimilarityMatrix(new Float32Array(0), 2 ** 40, new Float32Array(0), 2 ** 40, 0)),
    'ERR_DIMS',
  );
  t.is(
    code(() => cosineSimilarityMatrix(new Float32Array(2), 1, new Float32Array(2), 1, -2)),
    'ERR_DIMS',
  );
  t.is(
    code(() => l2Normalize(new Float64Array(4) as unknown as Float32Array, 2, 2)),
    'ERR_INVALID_ARGUMENT',
  );
  t.is(
    code(() => l2Normalize(null as unknown as Float32Array, 0, 1)),
    'ERR_INVALID_ARGUMENT',
  );
});

test('empty inputs give empty outputs', (t) => {
  t.is(l2Normalize(new Float32Array(0), 0, 4).length, 0);
  t.is(cosineSimilarity(new Float32Array(4), new Float32Array(0), 0, 4).length, 0);
  t.is(cosineSimilarityMatrix(new Float32Array(0), 0, new Float32Array(8), 2, 4).length, 0);
});

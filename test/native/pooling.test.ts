import { readFileSync } from 'node:fs';
import test from 'ava';
import {
  clsPool,
  lastTokenPool,
  maxPool,
  meanPool,
  meanSqrtLenPool,
  NativeError,
  weightedMeanPool,
} from '../../ts/index.js';

// Two sequences of three tokens, dim 2.
const H = new Float32Array([1, 2, 3, 4, 5, -6, -1, 0.5, 7, 8, 2, 2]);
const mask = (...v: number[]) => BigInt64Array.from(v.map(BigInt));

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof NativeError) return err.code;
    return `not a NativeError: ${String(err)}`;
  }
  return undefined;
}

test('mean pooling ignores masked tokens', (t) => {
  t.deepEqual([...meanPool(H, 2, 3, 2, mask(1, 1, 0, 0, 1, 1))], [2, 3, 4.5, 5]);
});

test('mean pooling of an all-masked sequence is zero', (t) => {
  const out = meanPool(H, 2, 3, 2, mask(0, 0, 0, 1, 1, 1));
  t.deepEqual([...out.subarray(0, 2)], [0, 0]);
});

test('CLS pooling takes the first token', (t) => {
  t.deepEqual([...clsPool(H, 2, 3, 2)], [1, 2, -1, 0.5]);
});

test('last-token pooling handles right and left padding', (t) => {
  t.deepEqual([...lastTokenPool(H, 2, 3, 2, mask(1, 1, 0, 0, 1, 1))], [3, 4, 2, 2]);
  t.deepEqual([...lastTokenPool(H, 2, 3, 2, mask(0, 0, 0, 1, 0, 0))], [0, 0, -1, 0.5]);
});

test('mean_sqrt_len divides by the root of the count; weightedmean weighs position t by t + 1', (t) => {
  const r = Math.fround(Math.sqrt(2));
  t.deepEqual(
    [...meanSqrtLenPool(H, 2, 3, 2, mask(1, 1, 0, 0, 0, 1))],
    [Math.fround(4 / r), Math.fround(6 / r), 2, 2],
  );
  t.deepEqual([...weightedMeanPool(H, 2, 3, 2, mask(1, 0, 1, 0, 1, 0))], [4, -4, 7, 8]);
  t.deepEqual([...weightedMeanPool(H, 2, 3, 2, mask(0, 0, 0, 0, 1, 0)).subarray(0, 2)], [0, 0]);
  t.is(
    code(() => weightedMeanPool(H, 2, 3, 2, mask(1, 1, 1))),
    'ERR_DIMS',
  );
});

test('max pooling treats masked tokens as -1e9', (t) => {
  t.deepEqual([...maxPool(H, 2, 3, 2, mask(1, 0, 1, 0, 0, 1))], [5, 2, 2, 2]);
  const out = maxPool(H, 2, 3, 2, mask(0, 0, 0, 1, 1, 1));
  t.is(out[0], Math.fround(-1e9));
});

type PoolingCase = {
  batch: number;
  seq: number;
  dim: number;
  hidden: number[];
  attention_mask: number[];
  pooled: Record<'mean' | 'cls' | 'max' | 'last_token' | 'mean_sqrt_len' | 'weightedmean', number[]>;
};

test('pooling matches the sentence-transformers goldens', (t) => {
  const golden = JSON.parse(
    readFileSync(new URL('../fixtures/goldens/pooling.json', import.meta.url), 'utf8'),
  ) as { cases: PoolingCase[] };
  t.true(golden.cases.length >= 5);
  for (const c of golden.cases) {
    const h = new Float32Array(c.hidden);
    const m = BigInt64Array.from(c.attention_mask.map(BigInt));
    const got = {
      mean: meanPool(h, c.batch, c.seq, c.dim, m),
      cls: clsPool(h, c.batch, c.seq, c.dim),
      max: maxPool(h, c.batch, c.seq, c.dim, m),
      last_token: lastTokenPool(h, c.batch, c.seq, c.dim, m),
      mean_sqrt_len: meanSqrtLenPool(h, c.batch, c.seq, c.dim, m),
      weightedmean: weightedMeanPool(h, c.batch, c.seq, c.dim, m),
    };
    for (const [name, values] of Object.entries(got)) {
      const want = c.pooled[name as keyof PoolingCase['pooled']];
      t.is(values.length, want.length);
      values.forEach((v, i) => {
        const w = want[i]!;
        t.true(Math.abs(v - w) <= Math.max(1e-5, Math.abs(w) * 1e-6), `${name}[${i}] ${v} vs ${w}`);
      });
    }
  }
});

test('hostile input raises typed errors', (t) => {
  const m6 = mask(1, 1, 1, 1, 1, 1);
  t.is(
    code(() => meanPool(H.subarray(0, 11), 2, 3, 2, m6)),
    'ERR_DIMS',
  );
  t.is(
    code(() => meanPool(H, 2, 3, 2, mask(1, 1, 1))),
    'ERR_DIMS',
  );
  t.is(
    code(() => meanPool(H, 2, 3, 2, mask(1, 1, 1, 1, 1, 2))),
    'ERR_INVALID_ARGUMENT',
  );
  t.is(
    code(() => maxPool(H, 2, 3, 2, mask(1, 1, 1, 1, 1, -1))),
    'ERR_INVALID_ARGUMENT',
  );
  const nan = H.slice();
  nan[4] = Number.NaN;
  t.is(
    code(() => clsPool(nan, 2, 3, 2)),
    'ERR_NON_FINITE',
  );
  const inf = H.slice();
  inf[0] = Number.POSITIVE_INFINITY;
  t.is(
    code(() => lastTokenPool(inf, 2, 3, 2, m6)),
    'ERR_NON_FINITE',
  );
  // Dims that are not non-negative integers, or overflow.
  t.is(
    code(() => meanPool(H, -2, 3, 2, m6)),
    'ERR_DIMS',
  );
  t.is(
    code(() => meanPool(H, 2.5, 3, 2, m6)),
    'ERR_DIMS',
  );
  t.is(
    code(() => meanPool(H, Number.NaN, 3, 2, m6)),
    'ERR_DIMS',
  );
  t.is(
    code(() => meanPool(H, 2 ** 32 + 2, 3, 2, m6)),
    'ERR_DIMS',
  );
  t.is(
    code(() => meanPool(H, 2 ** 53, 2 ** 53, 2 ** 53, m6)),
    'ERR_DIMS',
  );
  t.is(
    code(() => maxPool(new Float32Array(0), 2 ** 32 - 1, 0, 2 ** 32 - 1, mask())),
    'ERR_DIMS',
  );
  // Wrong JS types.
  t.is(
    code(() => meanPool([1, 2] as unknown as Float32Array, 1, 1, 2, mask(1))),
    'ERR_INVALID_ARGUMENT',
  );
  t.is(
    code(() => meanPool(H, 2, 3, 2, new Int32Array(6) as unknown as BigInt64Array)),
    'ERR_INVALID_ARGUMENT',
  );
  t.is(
    code(() => clsPool(H, '2' as unknown as number, 3, 2)),
    'ERR_INVALID_ARGUMENT',
  );
  t.is(
    code(() => (clsPool as unknown as (...a: unknown[]) => unknown)(H)),
    'ERR_INVALID_ARGUMENT',
  );
});

test('empty batches give empty outputs', (t) => {
  t.is(meanPool(new Float32Array(0), 0, 4, 8, mask()).length, 0);
  t.is(clsPool(new Float32Array(0), 0, 4, 8).length, 0);
});

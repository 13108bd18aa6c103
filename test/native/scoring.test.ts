import test from 'ava';
import { applyScores, NativeError, topK } from '../../ts/index.js';

test('softmax rows sum to one', (t) => {
  const out = applyScores(new Float32Array([1, 2, 3, 0, 0, 0]), 2, 3, 'softmax');
  t.true(Math.abs(out[0]! + out[1]! + out[2]! - 1) < 1e-6);
  t.true(Math.abs(out[3]! - 1 / 3) < 1e-7);
});

test('bad dims raise ERR_DIMS', (t) => {
  const err = t.throws(() => applyScores(new Float32Array(5), 2, 3, 'softmax'), { instanceOf: NativeError });
  t.is(err?.code, 'ERR_DIMS');
});

test('NaN raises ERR_NON_FINITE', (t) => {
  const err = t.throws(() => applyScores(new Float32Array([Number.NaN]), 1, 1, 'sigmoid'));
  t.is((err as NativeError).code, 'ERR_NON_FINITE');
});

test('wrong JS types raise a typed error, not a crash', (t) => {
  const err = t.throws(() => applyScores([1, 2] as unknown as Float32Array, 1, 2, 'softmax'));
  t.is((err as NativeError).code, 'ERR_INVALID_ARGUMENT');
});

test('topK is stable on ties', (t) => {
  t.deepEqual([...topK(new Float32Array([0.1, 0.5, 0.5, 0.2]), 3)], [1, 2, 0 + 3]);
});

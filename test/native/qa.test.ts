import test from 'ava';
import { NativeError, qaAnswerCharSpans, qaDecodeSpan, qaPMask } from '../../ts/index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as NativeError).code;
  }
  return undefined;
}

const f32 = (xs: number[]) => new Float32Array(xs);
const i64 = (xs: number[]) => BigInt64Array.from(xs.map(BigInt));

test('p_mask unmasks context tokens and CLS', (t) => {
  const mask = qaPMask(new Int8Array([-1, 0, 0, -1, 1, 1, -1]), i64([101, 7, 8, 102, 9, 10, 102]), 101, true);
  t.deepEqual([...mask], [0, 1, 1, 1, 0, 0, 1]);
  const none = qaPMask(new Int8Array([-1, 0, -1, 1, -1]), i64([1, 2, 3, 4, 5]), null, false);
  t.deepEqual([...none], [0, 0, 0, 0, 0]);
});

test('decode returns the best allowed span with its product score', (t) => {
  const start = f32([0, 0, 0, 3, 0]);
  const end = f32([0, 0, 0, 0, 3]);
  const pMask = new Uint8Array([0, 1, 1, 0, 0]);
  const out = qaDecodeSpan(start, end, pMask, i64([1, 1, 1, 1, 1]), 1, 15);
  t.deepEqual([...out.starts], [3]);
  t.deepEqual([...out.ends], [4]);
  // Allowed: 0, 3, 4. start_p[3] = e^3 / (2 + e^3), end_p[4] likewise.
  const p = Math.exp(3) / (2 + Math.exp(3));
  t.true(Math.abs(out.scores[0]! - p * p) < 1e-6);
  t.true(Math.abs(out.nullScore - (1 / (2 + Math.exp(3))) ** 2) < 1e-6);
});

test('decode with top_k returns candidates best first', (t) => {
  const out = qaDecodeSpan(
    f32([0, 1, 2, 3]),
    f32([0, 3, 2, 1]),
    new Uint8Array(4),
    new BigInt64Array(0),
    4,
    15,
  );
  t.is(out.starts.length, 4);
  for (let i = 1; i < out.scores.length; i++) t.true(out.scores[i - 1]! >= out.scores[i]!);
  for (let i = 0; i < out.starts.length; i++) t.true(out.ends[i]! >= out.starts[i]!);
});

test('decode rejects mismatched lengths, empty windows and bad parameters', (t) => {
  const one = f32([1]);
  t.is(
    codeOf(() => qaDecodeSpan(f32([]), f32([]), new Uint8Array(0), i64([]), 1, 15)),
    'ERR_DIMS',
  );
  t.is(
    codeOf(() => qaDecodeSpan(one, f32([1, 2]), new Uint8Array(1), i64([]), 1, 15)),
    'ERR_DIMS',
  );
  t.is(
    codeOf(() => qaDecodeSpan(one, one, new Uint8Array(2), i64([]), 1, 15)),
    'ERR_DIMS',
  );
  t.is(
    codeOf(() => qaDecodeSpan(one, one, new Uint8Array(1), i64([1, 1]), 1, 15)),
    'ERR_DIMS',
  );
  t.is(
    codeOf(() => qaDecodeSpan(one, one, new Uint8Array(1), i64([]), 0, 15)),
    'ERR_INVALID_ARGUMENT',
  );
  t.is(
    codeOf(() => qaDecodeSpan(one, one, new Uint8Array(1), i64([]), 1, 0)),
    'ERR_INVALID_ARGUMENT',
  );
});

test('decode rejects NaN and infinite logits', (t) => {
  const ok = f32([1, 2]);
  const mask = new Uint8Array(2);
  t.is(
    codeOf(() => qaDecodeSpan(f32([Number.NaN, 1]), ok, mask, i64([]), 1, 15)),
    'ERR_NON_FINITE',
  );
  t.is(
    codeOf(() => qaDecodeSpan(ok, f32([1, Number.NEGATIVE_INFINITY]), mask, i64([]), 1, 15)),
    'ERR_NON_FINITE',
  );
});

test('decode rejects wrong JS types with a typed error', (t) => {
  const err = t.throws(() =>
    qaDecodeSpan([1, 2] as unknown as Float32Array, f32([1, 2]), new Uint8Array(2), i64([]), 1, 15),
  );
  t.true(err instanceof NativeError);
  t.is((err as NativeError).code, 'ERR_INVALID_ARGUMENT');
  t.true(codeOf(() => qaPMask(new Int8Array(1), 'x' as unknown as BigInt64Array, null, true)) !== undefined);
});

test('huge top_k and max_answer_len do not blow up', (t) => {
  const out = qaDecodeSpan(
    f32([0, 1, 2]),
    f32([0, 2, 1]),
    new Uint8Array(3),
    i64([1, 1, 1]),
    0xffffffff,
    0xffffffff,
  );
  // Every entry of the 3x3 matrix is a candidate; those on positions 0..2 all survive.
  t.is(out.starts.length, 9);
});

// [CLS] what ? [SEP] new york ##er city [SEP] over the context "New Yorker city".
const WORDS = new Int32Array([-1, 0, 1, -1, 0, 1, 1, 2, -1]);
const SEQS = new Int8Array([-1, 0, 0, -1, 1, 1, 1, 1, -1]);
const OFFS = new Uint32Array([0, 0, 0, 4, 4, 5, 0, 0, 0, 3, 4, 8, 8, 10, 11, 15, 0, 0]);

test('char spans align to words or keep token offsets', (t) => {
  const starts = new Uint32Array([6, 5, 0]);
  const ends = new Uint32Array([6, 7, 6]);
  t.deepEqual([...qaAnswerCharSpans(WORDS, SEQS, OFFS, 1, starts, ends, true)], [4, 10, 4, 15, 0, 10]);
  t.deepEqual([...qaAnswerCharSpans(WORDS, SEQS, OFFS, 1, starts, ends, false)], [8, 10, 4, 15, 0, 10]);
});

test('char spans reject out-of-range tokens and bad buffers', (t) => {
  const one = new Uint32Array([1]);
  t.is(
    codeOf(() => qaAnswerCharSpans(WORDS, SEQS, OFFS, 1, new Uint32Array([9]), one, true)),
    'ERR_INVALID_ARGUMENT',
  );
  t.is(
    codeOf(() => qaAnswerCharSpans(WORDS, SEQS, OFFS, 1, one, new Uint32Array([1, 2]), true)),
    'ERR_DIMS',
  );
  t.is(
    codeOf(() => qaAnswerCharSpans(WORDS, SEQS, OFFS.subarray(2), 1, one, one, true)),
    'ERR_DIMS',
  );
  t.is(
    codeOf(() => qaAnswerCharSpans(WORDS, SEQS.subarray(1), OFFS, 1, one, one, true)),
    'ERR_DIMS',
  );
  t.is(
    codeOf(() => qaAnswerCharSpans(WORDS, SEQS, OFFS, 1000, one, one, true)),
    'ERR_INVALID_ARGUMENT',
  );
});

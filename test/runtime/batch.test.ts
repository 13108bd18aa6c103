import test from 'ava';
import {
  type BatchPart,
  batchLayout,
  callShape,
  type Job,
  packBatch,
  runJob,
  sliceBlock,
  unpackBatch,
  type ValueInfo,
} from '../../ts/runtime/batch.js';
import type { ModelRunner, TensorLike } from '../../ts/runtime/runner.js';
import { rng, values } from './engine-helpers.js';

const tok = (name: string, b = 'batch_size', s = 'sequence_length'): ValueInfo => ({
  name,
  isTensor: true,
  type: 'int64',
  shape: [b, s],
});
const BERT_INPUTS = [tok('input_ids'), tok('attention_mask'), tok('token_type_ids')];
const out = (name: string, ...shape: Array<number | string>): ValueInfo => ({
  name,
  isTensor: true,
  type: 'float32',
  shape,
});

const i64 = (values: number[], dims: number[]): TensorLike => ({
  type: 'int64',
  data: BigInt64Array.from(values, BigInt),
  dims,
});

test('token-classification and pooled graphs are batchable; seq axes are found by name', (t) => {
  const layout = batchLayout(
    BERT_INPUTS,
    [out('logits', 'batch_size', 'sequence_length', 13), out('pooled', 'batch_size', 4)],
    7,
  );
  t.truthy(layout);
  t.deepEqual(layout?.inputs, ['input_ids', 'attention_mask', 'token_type_ids']);
  t.deepEqual(layout?.seqAxes, { logits: [1], pooled: [] });
  t.deepEqual(layout?.padValues, { input_ids: 7n, attention_mask: 0n, token_type_ids: 0n });
});

test('graphs the batcher cannot pad safely run call by call', (t) => {
  const logits = [out('logits', 'batch_size', 'sequence_length', 3)];
  t.is(batchLayout([tok('input_ids'), tok('token_type_ids')], logits), null, 'no attention mask');
  t.is(batchLayout([...BERT_INPUTS, tok('pixel_mask')], logits), null, 'unknown input');
  t.not(batchLayout([...BERT_INPUTS, tok('position_ids')], logits), null, 'position_ids pad with 0');
  t.is(
    batchLayout([{ ...tok('input_ids'), type: 'int32' }, tok('attention_mask')], logits),
    null,
    'int32 ids',
  );
  t.is(
    batchLayout([tok('input_ids', 'b', 's'), tok('attention_mask', 'b', 't')], logits),
    null,
    'two seq dims',
  );
  t.is(batchLayout([tok('input_ids', '', ''), tok('attention_mask', '', '')], logits), null, 'unnamed dims');
  t.is(batchLayout([{ name: 'input_ids', type: 'int64', shape: [1, 'sequence_length'] }], logits), null);
  t.is(batchLayout(BERT_INPUTS, [out('logits', 'batch_size', 'other_dim')]), null, 'unknown symbolic dim');
  t.is(batchLayout(BERT_INPUTS, [out('logits', 3, 'batch_size')]), null, 'batch not in dim 0');
  t.is(batchLayout(BERT_INPUTS, [{ name: 'seq', isTensor: false }]), null, 'non-tensor output');
  t.is(batchLayout([], logits), null);
});

test('callShape accepts conforming feeds and refuses the rest', (t) => {
  const layout = batchLayout(
    [tok('input_ids'), tok('attention_mask')],
    [out('logits', 'batch_size', 'sequence_length', 2)],
  );
  if (layout === null) return t.fail();
  const ok = { input_ids: i64([1, 2, 3, 4, 5, 6], [2, 3]), attention_mask: i64([1, 1, 1, 1, 1, 0], [2, 3]) };
  t.deepEqual(callShape(layout, ok), { rows: 2, len: 3 });
  t.deepEqual(callShape(layout, ok, { outputs: ['logits'] }), { rows: 2, len: 3 });
  t.is(callShape(layout, ok, { outputs: ['nope'] }), null);
  t.is(callShape(layout, { input_ids: ok.input_ids }), null, 'missing mask');
  t.is(callShape(layout, { ...ok, attention_mask: i64([1, 1, 1, 1], [2, 2]) }), null, 'len mismatch');
  t.is(callShape(layout, { ...ok, extra: ok.input_ids }), null, 'extra feed');
  t.is(
    callShape(layout, { ...ok, input_ids: { type: 'int32', data: new Int32Array(6), dims: [2, 3] } }),
    null,
  );
  t.is(callShape(layout, { ...ok, input_ids: i64([1, 2, 3], [1, 3]) }), null, 'rows mismatch');
  t.is(callShape(layout, { input_ids: i64([], [0, 3]), attention_mask: i64([], [0, 3]) }), null, 'empty');
  t.is(
    callShape(layout, { input_ids: i64([1, 2], [2, 3]), attention_mask: ok.attention_mask }),
    null,
    'short',
  );
});

test('packBatch right-pads ids with the pad id and masks/types with 0, stacking along dim 0', (t) => {
  const layout = batchLayout(BERT_INPUTS, [out('logits', 'batch_size', 2)], 9);
  if (layout === null) return t.fail();
  const a: BatchPart = {
    rows: 1,
    len: 2,
    feeds: {
      input_ids: i64([5, 6], [1, 2]),
      attention_mask: i64([1, 1], [1, 2]),
      token_type_ids: i64([0, 1], [1, 2]),
    },
  };
  const b: BatchPart = {
    rows: 2,
    len: 3,
    feeds: {
      input_ids: i64([1, 2, 3, 4, 5, 6], [2, 3]),
      attention_mask: i64([1, 1, 1, 1, 1, 0], [2, 3]),
      token_type_ids: i64([0, 0, 1, 0, 1, 1], [2, 3]),
    },
  };
  const feeds = packBatch(layout, [a, b]);
  t.deepEqual(feeds.input_ids?.dims, [3, 3]);
  t.deepEqual(values(feeds.input_ids), [5n, 6n, 9n, 1n, 2n, 3n, 4n, 5n, 6n]);
  t.deepEqual(values(feeds.attention_mask), [1n, 1n, 0n, 1n, 1n, 1n, 1n, 1n, 0n]);
  t.deepEqual(values(feeds.token_type_ids), [0n, 1n, 0n, 0n, 0n, 1n, 0n, 1n, 1n]);
});

/** Naive reference: element by element. */
function naiveSlice(src: Float32Array, dims: number[], start0: number, sizes: number[]): Float32Array {
  const outN = sizes.reduce((x, y) => x * y, 1);
  const res = new Float32Array(outN);
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((x, y) => x * y, 1));
  for (let flat = 0; flat < outN; flat++) {
    let rem = flat;
    let off = 0;
    for (let i = sizes.length - 1; i >= 0; i--) {
      const size = sizes[i] as number;
      const idx = rem % size;
      rem = Math.floor(rem / size);
      off += (i === 0 ? idx + start0 : idx) * (strides[i] as number);
    }
    res[flat] = src[off] as number;
  }
  return res;
}

test('sliceBlock equals an element-by-element slice on random shapes', (t) => {
  const next = rng(42);
  for (let trial = 0; trial < 200; trial++) {
    const rank = 1 + Math.floor(next() * 4);
    const dims = Array.from({ length: rank }, () => 1 + Math.floor(next() * 5));
    const n = dims.reduce((x, y) => x * y, 1);
    const data = Float32Array.from({ length: n }, (_, i) => i + 0.5);
    const start0 = Math.floor(next() * (dims[0] as number));
    const sizes = dims.map((d, i) =>
      i === 0 ? 1 + Math.floor(next() * (d - start0)) : 1 + Math.floor(next() * d),
    );
    const got = sliceBlock({ type: 'float32', data, dims }, start0, sizes);
    t.deepEqual(got.dims, sizes);
    t.deepEqual([...(got.data as Float32Array)], [...naiveSlice(data, dims, start0, sizes)]);
  }
});

test('sliceBlock keeps the element type', (t) => {
  const got = sliceBlock(
    { type: 'int64', data: BigInt64Array.from([1n, 2n, 3n, 4n]), dims: [2, 2] },
    1,
    [1, 1],
  );
  t.true(got.data instanceof BigInt64Array);
  t.deepEqual([...(got.data as BigInt64Array)], [3n]);
});

/**
 * A stand-in network whose outputs depend on each row's unmasked tokens only, like an encoder
 * with an attention mask: per position `ids * mask + k`, and per row the masked sum of ids.
 */
function maskedNet(): ModelRunner & { calls: number[][] } {
  const calls: number[][] = [];
  return {
    inputNames: ['input_ids', 'attention_mask'],
    outputNames: ['tokens', 'pooled'],
    calls,
    async run(feeds) {
      const ids = feeds.input_ids as TensorLike;
      const mask = (feeds.attention_mask as TensorLike).data as BigInt64Array;
      const [b, s] = ids.dims as [number, number];
      calls.push([b, s]);
      const tokens = new Float32Array(b * s * 2);
      const pooled = new Float32Array(b);
      for (let r = 0; r < b; r++) {
        for (let i = 0; i < s; i++) {
          const v = Number((ids.data as BigInt64Array)[r * s + i]) * Number(mask[r * s + i]);
          tokens[(r * s + i) * 2] = v;
          tokens[(r * s + i) * 2 + 1] = v + 1;
          pooled[r] = (pooled[r] as number) + v;
        }
      }
      return {
        tokens: { type: 'float32', data: tokens, dims: [b, s, 2] },
        pooled: { type: 'float32', data: pooled, dims: [b] },
      };
    },
    async dispose() {},
  };
}

test('runJob: a stacked job gives every call exactly what it gets alone', async (t) => {
  const layout = batchLayout(
    [tok('input_ids'), tok('attention_mask')],
    [out('tokens', 'batch_size', 'sequence_length', 2), out('pooled', 'batch_size')],
    0,
  );
  if (layout === null) return t.fail();
  const next = rng(7);
  const parts: BatchPart[] = [];
  for (let c = 0; c < 6; c++) {
    const rows = 1 + Math.floor(next() * 3);
    const len = 1 + Math.floor(next() * 9);
    const ids = Array.from({ length: rows * len }, () => 1 + Math.floor(next() * 50));
    const mask = Array.from({ length: rows * len }, (_, i) => (i % len < Math.max(1, len - c) ? 1 : 0));
    parts.push({
      rows,
      len,
      feeds: { input_ids: i64(ids, [rows, len]), attention_mask: i64(mask, [rows, len]) },
    });
  }
  const net = maskedNet();
  const stacked = await runJob(net, { parts, layout } satisfies Job);
  t.is(net.calls.length, 1, 'one run for the whole job');
  const maxLen = Math.max(...parts.map((p) => p.len));
  t.deepEqual(net.calls[0], [parts.reduce((n, p) => n + p.rows, 0), maxLen]);
  for (const [i, p] of parts.entries()) {
    const alone = await net.run(p.feeds);
    const got = stacked[i] as Record<string, TensorLike>;
    t.deepEqual(got.tokens?.dims, [p.rows, p.len, 2]);
    t.deepEqual(got.pooled?.dims, [p.rows]);
    t.deepEqual(values(got.tokens), values(alone.tokens));
    t.deepEqual(values(got.pooled), values(alone.pooled));
  }
});

test('unpackBatch trims only the sequence axes', (t) => {
  const layout = batchLayout(
    [tok('input_ids'), tok('attention_mask')],
    [out('scores', 'batch_size', 'sequence_length', 'sequence_length')],
  );
  if (layout === null) return t.fail();
  const parts: BatchPart[] = [
    { rows: 1, len: 1, feeds: {} },
    { rows: 1, len: 2, feeds: {} },
  ];
  const scores: TensorLike = {
    type: 'float32',
    data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
    dims: [2, 2, 2],
  };
  const [a, b] = unpackBatch(layout, { scores }, parts);
  t.deepEqual(a?.scores?.dims, [1, 1, 1]);
  t.deepEqual(values(a?.scores), [0]);
  t.deepEqual(values(b?.scores), [4, 5, 6, 7]);
});

test('runJob runs an unbatched job as is and refuses a malformed one', async (t) => {
  const net = maskedNet();
  const feeds = { input_ids: i64([3, 4], [1, 2]), attention_mask: i64([1, 1], [1, 2]) };
  const [res] = await runJob(net, { parts: [{ rows: 0, len: 0, feeds }] });
  t.deepEqual(values(res?.pooled), [7]);
  await t.throwsAsync(() => runJob(net, { parts: [] }), { instanceOf: RangeError });
});

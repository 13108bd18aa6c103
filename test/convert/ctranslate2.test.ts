import test from 'ava';
import { CTranslate2File } from '../../ts/convert/ctranslate2.js';
import { transformTensor } from '../../ts/convert/fill.js';
import { ModelError } from '../../ts/errors.js';
import { ct2 } from './builders.js';

const f32 = (v: number[]) => Buffer.from(new Float32Array(v).buffer);
const f16 = (v: number[]) => Buffer.from(new Uint16Array(v).buffer);

test('CTranslate2 variables read as float32: float32, float16, int8 with its row scales, aliases', (t) => {
  const file = CTranslate2File.parse(
    ct2(
      [
        ['encoder/qkv/weight', [3, 2], 0, f32([1, 2, 3, 4, 5, 6])],
        ['encoder/ln/gamma', [2], 4, f16([0x3c00, 0x4000])],
        ['decoder/linear/weight', [2, 2], 1, Buffer.from(Int8Array.from([10, -20, 30, 40]).buffer)],
        ['decoder/linear/weight_scale', [2], 0, f32([10, 20])],
      ],
      [['decoder/embeddings/weight', 'encoder/qkv/weight']],
    ),
  );
  t.is(file.spec, 'WhisperSpec');
  t.is(file.revision, 3);
  t.deepEqual([...file.get('encoder/ln/gamma').data], [1, 2]);
  t.deepEqual([...file.get('decoder/linear/weight').data], [1, -2, 1.5, 2]);
  t.deepEqual(file.get('decoder/embeddings/weight'), file.get('encoder/qkv/weight'));
  t.deepEqual(file.info('decoder/embeddings/weight'), { dtype: 'float32', shape: [3, 2] });
  // One part of a fused projection: rows [1, 3), transposed.
  const entry = {
    name: 'k',
    source: 'encoder/qkv/weight',
    dtype: 'float32' as const,
    shape: [2, 2],
    transform: 'transpose' as const,
    rows: [1, 3] as [number, number],
    offset: 0,
    length: 16,
  };
  t.deepEqual([...transformTensor(file.get(entry.source), entry)], [3, 5, 4, 6]);
  t.throws(() => transformTensor(file.get(entry.source), { ...entry, rows: [2, 4] }), {
    message: /rows \[2, 4\) outside \[0, 3\)/,
  });
  t.throws(() => file.get('absent'), { instanceOf: ModelError, message: /lacks variable absent/ });
});

test('malformed CTranslate2 files are typed errors', (t) => {
  const good = ct2([['w', [2], 0, f32([1, 2])]]);
  const err = (b: Buffer, message: RegExp) =>
    t.throws(() => CTranslate2File.parse(b), { instanceOf: ModelError, message });
  err(good.subarray(0, 30), /truncated/);
  const v9 = Buffer.from(good);
  v9.writeUInt32LE(9, 0);
  err(v9, /binary version 9/);
  err(ct2([['w', [3], 0, f32([1, 2])]]), /invalid payload size/);
  err(ct2([['w', [2], 9, f32([1, 2])]]), /unknown dtype/);
  const noScale = CTranslate2File.parse(ct2([['w', [2], 1, Buffer.from([1, 2])]]));
  t.throws(() => noScale.get('w'), { instanceOf: ModelError, message: /no per-row scale/ });
});

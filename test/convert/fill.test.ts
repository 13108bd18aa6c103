import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { fillWeights, graphsDir, loadWeightMap, WEIGHT_MAP_FORMAT } from '../../ts/convert/fill.js';
import { SafetensorsFile } from '../../ts/convert/safetensors.js';
import { halfToFloat } from '../../ts/convert/tensor.js';
import { safetensors } from './builders.js';

const f32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
const u16 = (values: number[]) => Buffer.from(new Uint16Array(values).buffer);

test('safetensors: F32, F16 and BF16 tensors read as float32, with their shapes', (t) => {
  const file = SafetensorsFile.parse(
    safetensors([
      ['a', 'F32', [2, 3], f32([1, 2, 3, 4, 5, 6])],
      ['b', 'F16', [2], u16([0x3c00, 0xc000])],
      ['c', 'BF16', [2], u16([0x3f80, 0x4049])],
    ]),
  );
  t.deepEqual(file.names(), ['a', 'b', 'c']);
  t.deepEqual(file.get('a'), { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] });
  t.deepEqual([...file.get('b').data], [1, -2]);
  t.deepEqual([...file.get('c').data], [1, 3.140625]);
  t.is(halfToFloat(0x0001), 2 ** -24);
  t.throws(() => file.get('missing'), { message: /lacks tensor missing/ });
});

test('safetensors: a malformed file is a typed error, not a crash', (t) => {
  t.throws(() => SafetensorsFile.parse(Buffer.alloc(4)), { message: /too short/ });
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(1n << 40n);
  t.throws(() => SafetensorsFile.parse(huge), { message: /out of range/ });
  const good = safetensors([['a', 'F32', [2], f32([1, 2])]]);
  t.throws(() => SafetensorsFile.parse(good.subarray(0, good.length - 1)), { message: /outside the file/ });
  const wrongSize = safetensors([['a', 'F32', [3], f32([1, 2])]]);
  t.throws(() => SafetensorsFile.parse(wrongSize), { message: /shape needs/ });
  const text = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{x')]);
  t.throws(() => SafetensorsFile.parse(text), { message: /not JSON/ });
  const i64 = SafetensorsFile.parse(safetensors([['p', 'I64', [1], Buffer.alloc(8)]]));
  t.throws(() => i64.get('p'), { message: /dtype I64/ });
});

test('fillWeights writes each region at its offset, transposed where the map says, shared regions once', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-fill-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const graphDir = path.join(dir, 'graph');
  const outDir = path.join(dir, 'out');
  const map = {
    format: WEIGHT_MAP_FORMAT,
    model: 'test/model',
    export: 'test',
    sourceFormat: 'safetensors',
    graph: 'model.onnx',
    data: 'model.onnx_data',
    dataLength: 64 + 24,
    inline: [],
    tensors: [
      { name: 'w', source: 'w', dtype: 'float32', shape: [2, 3], transform: 'none', offset: 0, length: 24 },
      {
        name: 'wT',
        source: 'w',
        dtype: 'float32',
        shape: [3, 2],
        transform: 'transpose',
        offset: 64,
        length: 24,
      },
      { name: 'w2', source: 'w', dtype: 'float32', shape: [2, 3], transform: 'none', offset: 0, length: 24 },
    ],
  };
  mkdirSync(graphDir, { recursive: true });
  writeFileSync(path.join(graphDir, 'weights.json'), JSON.stringify(map));
  writeFileSync(path.join(graphDir, 'model.onnx'), 'graph bytes');
  const source = SafetensorsFile.parse(safetensors([['w', 'F32', [2, 3], f32([1, 2, 3, 4, 5, 6])]]));
  const out = await fillWeights(graphDir, source, outDir);
  t.is(readFileSync(out.graph, 'utf8'), 'graph bytes');
  const data = readFileSync(out.data);
  t.is(data.length, 88);
  const floats = new Float32Array(data.buffer, data.byteOffset, data.length / 4);
  t.deepEqual([...floats.subarray(0, 6)], [1, 2, 3, 4, 5, 6]);
  t.deepEqual([...floats.subarray(6, 16)], new Array(10).fill(0));
  t.deepEqual([...floats.subarray(16, 22)], [1, 4, 2, 5, 3, 6]);

  const wrong = SafetensorsFile.parse(safetensors([['w', 'F32', [3, 2], f32([1, 2, 3, 4, 5, 6])]]));
  await t.throwsAsync(fillWeights(graphDir, wrong, outDir), { message: /has shape \[3,2\]/ });
  const absent = SafetensorsFile.parse(safetensors([['v', 'F32', [1], f32([1])]]));
  await t.throwsAsync(fillWeights(graphDir, absent, outDir), { message: /lacks w/ });
});

test('the committed all-MiniLM-L6-v2 graph maps every initializer to a checkpoint tensor', (t) => {
  const map = loadWeightMap(path.join(graphsDir(), 'all-minilm-l6-v2'));
  t.is(map.graph, 'model.onnx');
  t.is(map.data, 'model.onnx_data');
  t.is(map.inline.length, 0);
  const sources = new Set(map.tensors.map((e) => e.source));
  t.is(sources.size, 101);
  t.true(sources.has('embeddings.word_embeddings.weight'));
  // Linear weights are stored transposed for MatMul.
  const q = map.tensors.find((e) => e.source === 'encoder.layer.0.attention.self.query.weight');
  t.is(q?.transform, 'transpose');
  let end = 0;
  for (const e of [...map.tensors].sort((a, b) => a.offset - b.offset)) {
    t.is(e.length, e.shape.reduce((a, b) => a * b, 1) * 4, e.name);
    t.true(e.offset >= end || e.offset + e.length <= end, e.name);
    end = Math.max(end, e.offset + e.length);
  }
  t.is(end, map.dataLength);
});

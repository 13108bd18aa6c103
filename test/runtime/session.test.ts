import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { DeviceUnavailableError, HfTasksError, ModelError } from '../../ts/index.js';
import { loadModelConfig, loadSentenceTransformersConfig } from '../../ts/runtime/config.js';
import { createSessionRunner, cudaProviderInstalled } from '../../ts/runtime/session.js';

const models = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models');
const onnx = (name: string) => path.join(models, name, 'model.onnx');

function ids(rows: number[][]): { data: BigInt64Array; dims: number[] } {
  const len = rows[0]!.length;
  return { data: BigInt64Array.from(rows.flat(), BigInt), dims: [rows.length, len] };
}

test('runs a batch and returns float32 logits [batch, labels]', async (t) => {
  const runner = await createSessionRunner(onnx('bert-sentiment'));
  t.deepEqual(runner.inputNames.sort(), ['attention_mask', 'input_ids', 'token_type_ids']);
  t.true(runner.outputNames.includes('logits'));
  const x = ids([
    [2, 100, 200, 3],
    [2, 300, 3, 0],
  ]);
  const mask = ids([
    [1, 1, 1, 1],
    [1, 1, 1, 0],
  ]);
  const out = await runner.run(
    {
      input_ids: { type: 'int64', ...x },
      attention_mask: { type: 'int64', ...mask },
      token_type_ids: { type: 'int64', data: new BigInt64Array(8), dims: [2, 4] },
    },
    { outputs: ['logits'] },
  );
  t.is(out.logits!.type, 'float32');
  t.deepEqual(out.logits!.dims, [2, 3]);
  t.true([...(out.logits!.data as Float32Array)].every(Number.isFinite));
  await runner.dispose();
});

test('a row gives the same logits alone and padded inside a batch', async (t) => {
  const runner = await createSessionRunner(onnx('bert-sentiment'));
  const feeds = (rows: number[][], masks: number[][]) => ({
    input_ids: { type: 'int64' as const, ...ids(rows) },
    attention_mask: { type: 'int64' as const, ...ids(masks) },
    token_type_ids: {
      type: 'int64' as const,
      data: new BigInt64Array(rows.length * rows[0]!.length),
      dims: ids(rows).dims,
    },
  });
  const alone = await runner.run(feeds([[2, 300, 3]], [[1, 1, 1]]));
  const batched = await runner.run(
    feeds(
      [
        [2, 100, 200, 3],
        [2, 300, 3, 0],
      ],
      [
        [1, 1, 1, 1],
        [1, 1, 1, 0],
      ],
    ),
  );
  const a = alone.logits!.data as Float32Array;
  const b = (batched.logits!.data as Float32Array).subarray(3, 6);
  for (let i = 0; i < 3; i++) t.true(Math.abs(a[i]! - b[i]!) < 1e-5);
  await runner.dispose();
});

test('a missing input, an unknown output and a wrong element type are typed errors', async (t) => {
  const runner = await createSessionRunner(onnx('bert-sentiment'));
  const x = { type: 'int64' as const, ...ids([[2, 3]]) };
  const e1 = await t.throwsAsync(runner.run({ input_ids: x }), { instanceOf: ModelError });
  t.is(e1.code, 'ERR_MODEL_RUN');
  t.regex(e1.message, /attention_mask/);
  const full = { input_ids: x, attention_mask: x, token_type_ids: x };
  const e2 = await t.throwsAsync(runner.run(full, { outputs: ['nope'] }), { instanceOf: ModelError });
  t.regex(e2.message, /no output nope/);
  const e3 = await t.throwsAsync(
    runner.run({ ...full, input_ids: { type: 'float32', data: new Float32Array(2), dims: [1, 2] } }),
    { instanceOf: ModelError },
  );
  t.regex(e3.message, /expects int64/);
  await runner.dispose();
  const e4 = await t.throwsAsync(runner.run(full), { instanceOf: ModelError });
  t.is(e4.code, 'ERR_DISPOSED');
});

test('a missing or corrupt ONNX file is ERR_MODEL_LOAD', async (t) => {
  const e1 = await t.throwsAsync(createSessionRunner(path.join(models, 'nope.onnx')), {
    instanceOf: ModelError,
  });
  t.is(e1.code, 'ERR_MODEL_LOAD');
  const e2 = await t.throwsAsync(createSessionRunner(path.join(models, 'bert-nli', 'config.json')), {
    instanceOf: ModelError,
  });
  t.is(e2.code, 'ERR_MODEL_LOAD');
});

test('session options are validated', async (t) => {
  const err = await t.throwsAsync(
    createSessionRunner(onnx('bert-sentiment'), { sessionOptions: { intraOpNumThreads: -1 } }),
    { instanceOf: HfTasksError },
  );
  t.is(err.code, 'ERR_INVALID_ARGUMENT');
  const ok = await createSessionRunner(onnx('bert-sentiment'), {
    sessionOptions: {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'basic',
      enableCpuMemArena: false,
    },
  });
  t.is(ok.device, 'cpu');
  await ok.dispose();
});

test('device cuda without the CUDA provider fails with the install hint, or falls back when asked', async (t) => {
  if (cudaProviderInstalled()) {
    t.pass('CUDA execution provider installed here; the missing-provider path does not apply');
    return;
  }
  const err = await t.throwsAsync(createSessionRunner(onnx('bert-sentiment'), { device: 'cuda' }), {
    instanceOf: DeviceUnavailableError,
  });
  t.is(err.code, 'ERR_DEVICE_UNAVAILABLE');
  t.regex(err.message, /onnxruntime-node\/script\/install --onnxruntime-node-install=cuda12/);
  const fallback = await createSessionRunner(onnx('bert-sentiment'), {
    device: 'cuda',
    deviceFallback: true,
  });
  t.is(fallback.device, 'cpu');
  await fallback.dispose();
});

test('config.json: id2label keys parsed to ints, label2id kept in file order', (t) => {
  const cfg = loadModelConfig(path.join(models, 'bert-nli'));
  t.is(cfg.numLabels, 3);
  t.is(cfg.id2label.get(1), 'entailment');
  t.deepEqual(
    cfg.label2id.map(([label]) => label),
    ['entailment', 'contradiction', 'neutral'],
  );
  t.is(loadModelConfig(path.join(models, 'bert-regression')).problemType, 'regression');
  t.is(loadModelConfig(path.join(models, 'roberta-ner')).positionOffset, 2);
});

test('sentence-transformers configs: pooling, Normalize module, prompts', (t) => {
  const st = loadSentenceTransformersConfig(path.join(models, 'st-encoder'));
  t.truthy(st);
  t.deepEqual(st!.pooling!.modes, ['mean']);
  t.true(st!.normalize);
  t.is(st!.maxSeqLength, 48);
  t.is(st!.prompts.query, 'query: ');
  t.is(st!.prompts.passage, 'passage: ');
  const cls = loadSentenceTransformersConfig(path.join(models, 'st-encoder-cls'));
  t.deepEqual(cls!.pooling!.modes, ['cls']);
  t.false(cls!.normalize);
  t.is(loadSentenceTransformersConfig(path.join(models, 'bert-ner')), null);
});

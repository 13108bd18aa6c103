/**
 * Half-precision ONNX files chosen by `dtype`: fixture folders holding only `model_fp16.onnx`
 * (scripts/fixtures/make_fp16_goldens.py) against the reference pipelines on the same file.
 * On the CPU the same file gives the reference's outputs within 1e-4; the WebGPU check is in
 * test/runtime/webgpu.test.ts.
 */
import test from 'ava';
import { HfTasksError, pipeline } from '../../ts/index.js';
import type { TaskId } from '../../ts/types/tasks.js';
import { assertGolden, type GoldenCase, loadGoldens, modelDir } from './goldens.js';

type AnyPipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };

const golden = loadGoldens('fp16');
const byModel = new Map<string, GoldenCase[]>();
for (const c of golden.cases) byModel.set(c.model, [...(byModel.get(c.model) ?? []), c]);

for (const [model, cases] of byModel) {
  const task = (cases[0] as GoldenCase & { task: TaskId }).task;
  test(`${model}: dtype fp16 on the CPU equals the reference on model_fp16.onnx within 1e-4 (${cases.length} cases)`, async (t) => {
    const pipe = (await pipeline(task, modelDir(model), { dtype: 'fp16', workers: 0 })) as unknown as AnyPipe;
    try {
      for (const c of cases) {
        assertGolden(t, await pipe(c.inputs, c.parameters), c.output, 1e-4);
        if (!t.passed) {
          t.log(`first failing case: ${c.id}`);
          break;
        }
      }
    } finally {
      await pipe.dispose();
    }
  });
}

test('a folder with only an fp16 file: auto picks it, dtype fp32 says what the folder holds', async (t) => {
  const c = golden.cases[0] as GoldenCase & { task: TaskId };
  const pipe = (await pipeline(c.task, modelDir(c.model), { workers: 0 })) as unknown as AnyPipe;
  try {
    assertGolden(t, await pipe(c.inputs, c.parameters), c.output, 1e-4);
  } finally {
    await pipe.dispose();
  }
  const err = await t.throwsAsync(pipeline(c.task, modelDir(c.model), { dtype: 'fp32', workers: 0 }), {
    instanceOf: HfTasksError,
  });
  t.is(err?.code, 'ERR_NO_ONNX_FILE');
  t.regex(err?.message ?? '', /model_fp16\.onnx/);
});

/**
 * Object detection with the RT-DETR family (RT-DETR, RT-DETR v2, D-FINE: RTDetrImageProcessor,
 * a sigmoid per class and the best `num_queries` query-class pairs) against the transformers
 * 4.57.3 pipeline goldens of scripts/fixtures/make_rtdetr_goldens.py, on the tiny models of
 * scripts/fixtures/make_rtdetr_models.py over the image corpus of test/fixtures/images.
 *
 * Exact parity (labels, order, boxes; scores within 1e-4) on every lossless input; JPEGs run on
 * the reference's own decode of the file (`*.ref.png`) and, loosely, on the JPEG bytes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { pipeline } from '../../ts/index.js';
import { loadImageProcessor } from '../../ts/vision/processor.js';
import { IMAGES, isJpeg, MODELS, pipeCache, readGoldens, runGoldens } from './vision-goldens.js';

const GOLDENS = readGoldens('vision-rtdetr.json');

const MODEL_NAMES = ['rt-detr-tiny', 'rt-detr-v2-tiny', 'd-fine-tiny'];

const { pipeFor, disposeAll } = pipeCache();

test.after.always(disposeAll);

test('the goldens cover every model with outputs, errors and detections above each threshold', (t) => {
  for (const model of MODEL_NAMES) {
    const cases = GOLDENS.cases.filter((c) => c.model === model);
    t.true(cases.length >= 3 * GOLDENS.images.length, model);
    for (const threshold of [undefined, 0.0, 0.7]) {
      const found = cases
        .filter((c) => c.parameters.threshold === threshold)
        .reduce((n, c) => n + (c.output?.length ?? 0), 0);
      t.true(found > 20, `${model} threshold ${threshold}: ${found} detections`);
    }
  }
});

test('RTDetrImageProcessor: exact size, no normalisation, top num_queries sigmoid scoring', (t) => {
  const proc = loadImageProcessor(path.join(MODELS, 'rt-detr-tiny'));
  t.is(proc.type, 'RTDetrImageProcessor');
  t.is(proc.detection, 'sigmoid-top-queries');
  t.false(proc.pixelMask);
  t.like(proc.spec, { resizeMode: 'exact', height: 64, width: 64, resample: 2 });
  t.is(proc.spec.imageMean, undefined);
});

for (const model of MODEL_NAMES) {
  test(`${model}: equal to the reference on every golden (JPEGs through the reference decode)`, async (t) => {
    const cases = GOLDENS.cases.filter((c) => c.model === model);
    t.true(cases.length > 50);
    const { failures, checked, maxScoreDelta, items: detections } = await runGoldens(cases, pipeFor);
    t.deepEqual(failures, []);
    t.true(detections > 100);
    t.log(
      `${checked} outputs (${detections} detections) equal, largest score difference ${maxScoreDelta.toExponential(2)}`,
    );
  });
}

test('JPEG bytes: well-formed detections, at most num_queries, best first', async (t) => {
  const cases = GOLDENS.cases.filter(
    (c) => isJpeg(c.image) && c.output !== undefined && c.parameters.threshold === 0.0,
  );
  t.true(cases.length > 10);
  for (const kase of cases) {
    const pipe = await pipeFor(kase.task, kase.model);
    const got = (await pipe(readFileSync(path.join(IMAGES, kase.image)), kase.parameters)) as {
      score: number;
      label: string;
      box: Record<string, number>;
    }[];
    // Threshold 0 keeps every one of the num_queries (12) best pairs.
    t.is(got.length, 12);
    t.true(got.every((g, i) => i === 0 || (got[i - 1]?.score ?? 0) >= g.score));
    for (const g of got) {
      t.is(typeof g.label, 'string');
      t.true(Object.values(g.box).every(Number.isInteger));
    }
  }
});

test('image-segmentation refuses an RT-DETR model (its processor has no segmentation)', async (t) => {
  const err = await t.throwsAsync(
    pipeline('image-segmentation', path.join(MODELS, 'rt-detr-tiny'), { workers: 0 }),
  );
  t.is((err as { code?: string }).code, 'ERR_MODEL_LOAD');
  t.regex(err?.message ?? '', /needs a segmentation image processor/);
});

test('RTDetrImageProcessor configs: sizes the reference resizes with, refusals of the others', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtdetr-proc-'));
  const load = (cfg: Record<string, unknown>) => {
    writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(cfg));
    return loadImageProcessor(dir);
  };
  try {
    const base = { image_processor_type: 'RTDetrImageProcessorFast' };
    const defaults = load(base);
    t.is(defaults.type, 'RTDetrImageProcessor');
    t.like(defaults.spec, { resizeMode: 'exact', height: 640, width: 640, rescaleFactor: 1 / 255 });
    t.is(defaults.spec.imageMean, undefined);
    t.deepEqual(load({ ...base, do_normalize: true }).spec.imageMean, [0.485, 0.456, 0.406]);
    t.like(load({ ...base, size: { shortest_edge: 32, longest_edge: 48 } }).spec, {
      resizeMode: 'detr',
      shortestEdge: 32,
      longestEdge: 48,
    });
    // Padding without a pad_size is a no-op for the single images the pipeline processes.
    t.is(load({ ...base, do_pad: true }).spec.resizeMode, 'exact');
    // The reference's resize refuses a lone shortest edge (what an integer size reads as).
    for (const size of [64, { shortest_edge: 64 }, { max_height: 32, max_width: 48 }]) {
      t.throws(() => load({ ...base, size }), { message: /is not supported by RTDetrImageProcessor/ });
    }
    t.throws(() => load({ ...base, do_pad: true, pad_size: { height: 80, width: 80 } }), {
      message: /pad_size is not supported/,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

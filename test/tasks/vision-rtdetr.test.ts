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
import { compare, FIXTURES, IMAGES, MODELS, type VisionCase } from './vision-goldens.js';

const GOLDENS = JSON.parse(readFileSync(path.join(FIXTURES, 'goldens', 'vision-rtdetr.json'), 'utf8')) as {
  images: string[];
  cases: VisionCase[];
};

const MODEL_NAMES = ['rt-detr-tiny', 'rt-detr-v2-tiny', 'd-fine-tiny'];

type AnyPipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };
const pipes = new Map<string, Promise<AnyPipe>>();

function pipeFor(model: string): Promise<AnyPipe> {
  let p = pipes.get(model);
  if (p === undefined) {
    p = pipeline('object-detection', path.join(MODELS, model), { workers: 0 }) as unknown as Promise<AnyPipe>;
    pipes.set(model, p);
  }
  return p;
}

test.after.always(async () => {
  for (const p of pipes.values()) await (await p).dispose();
});

const isJpeg = (name: string) => name.endsWith('.jpg');
const refOf = (name: string) => name.replace(/\.jpg$/, '.ref.png');

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
    const pipe = await pipeFor(model);
    let maxScoreDelta = 0;
    let checked = 0;
    let detections = 0;
    const failures: string[] = [];
    for (const kase of cases) {
      const file = isJpeg(kase.image) ? refOf(kase.image) : kase.image;
      const where = `${kase.image} ${JSON.stringify(kase.parameters)}`;
      let got: unknown;
      try {
        got = await pipe(readFileSync(path.join(IMAGES, file)), kase.parameters);
      } catch (err) {
        if (kase.error === undefined) failures.push(`${where}: threw ${(err as Error).message}`);
        else if ((err as { code?: string }).code === undefined) failures.push(`${where}: untyped error`);
        continue;
      }
      if (kase.error !== undefined) {
        failures.push(`${where}: expected ${kase.error.type}: ${kase.error.message}`);
        continue;
      }
      const r = await compare(kase, got);
      maxScoreDelta = Math.max(maxScoreDelta, r.maxScoreDelta);
      if (r.problems.length > 0) failures.push(`${where}: ${r.problems.slice(0, 3).join('; ')}`);
      checked++;
      detections += (kase.output ?? []).length;
    }
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
    const pipe = await pipeFor(kase.model);
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

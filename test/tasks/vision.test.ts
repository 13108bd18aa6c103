/**
 * The vision tasks against the transformers 4.57.3 pipeline goldens
 * (scripts/fixtures/make_vision_goldens.py) on the tiny models: ViT, ConvNeXt, MobileNet V1
 * and V2, EfficientNet, LeViT and PoolFormer classification, DETR, Conditional DETR and YOLOS
 * detection, SegFormer semantic and DETR panoptic / instance / semantic segmentation, over the
 * image corpus of test/fixtures/images.
 *
 * Exact parity (labels, order, boxes, mask pixels; scores within 1e-4) holds for every
 * lossless input. JPEG decoders differ from libjpeg-turbo by an LSB here and there, so JPEG
 * cases run twice: on the reference's own decode of the file (`*.ref.png`, exact) and on the
 * JPEG bytes (loose: scores close for the classifiers whose scores move little with an LSB,
 * well-formed outputs otherwise).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { pipeline } from '../../ts/index.js';
import {
  compare,
  GOLDENS,
  IMAGES,
  isJpeg,
  MODELS,
  maskPixels,
  pipeCache,
  refOf,
  runGoldens,
  type VisionCase,
  type VisionPipe,
} from './vision-goldens.js';

const { pipeFor, disposeAll } = pipeCache();

test.after.always(disposeAll);

for (const task of ['image-classification', 'object-detection', 'image-segmentation'] as const) {
  test(`${task}: equal to the reference on every golden (JPEGs through the reference decode)`, async (t) => {
    const cases = GOLDENS.cases.filter((c) => c.task === task);
    t.true(cases.length > 50);
    const { failures, checked, maxScoreDelta } = await runGoldens(cases, pipeFor);
    t.deepEqual(failures, []);
    t.log(`${checked} outputs equal, largest score difference ${maxScoreDelta.toExponential(2)}`);
  });
}

/**
 * Classifiers whose scores move by well under 0.02 when a few pixels change by one LSB. The
 * random batch-normalised MobileNet and LeViT stacks and the group-normalised PoolFormer
 * amplify such differences on the flat test images (a single LSB can move a score by 0.2),
 * which makes them strict checks of exact preprocessing but not of a different JPEG decoder.
 */
const LSB_STABLE = new Set(['vit-tiny', 'convnext-tiny', 'efficientnet-tiny']);

test('image-classification on JPEG bytes: same labels, scores close to the reference', async (t) => {
  const cases = GOLDENS.cases.filter((c) => c.task === 'image-classification' && isJpeg(c.image) && c.output);
  t.true(cases.length > 10);
  for (const kase of cases) {
    const pipe = await pipeFor(kase.task, kase.model);
    const got = (await pipe(readFileSync(path.join(IMAGES, kase.image)), kase.parameters)) as {
      label: string;
      score: number;
    }[];
    const want = kase.output as { label: string; score: number }[];
    t.is(got.length, want.length);
    if (!LSB_STABLE.has(kase.model)) {
      // Well-formed: distinct labels of the model, finite scores sorted descending.
      t.is(new Set(got.map((g) => g.label)).size, got.length);
      t.true(
        got.every((g, i) => Number.isFinite(g.score) && (i === 0 || (got[i - 1]?.score ?? 0) >= g.score)),
      );
      continue;
    }
    const wantScores = new Map(want.map((w) => [w.label, w.score]));
    for (const g of got) {
      const w = wantScores.get(g.label);
      if (w !== undefined) t.true(Math.abs(g.score - w) < 0.02, `${kase.image} ${g.label}`);
    }
  }
});

test('object-detection and image-segmentation on JPEG bytes: well-formed outputs at the oriented size', async (t) => {
  const cases = GOLDENS.cases.filter(
    (c): c is VisionCase & { output: Record<string, unknown>[] } =>
      c.task !== 'image-classification' &&
      isJpeg(c.image) &&
      c.output !== undefined &&
      Object.keys(c.parameters).length === 0,
  );
  t.true(cases.length > 10);
  for (const kase of cases) {
    const pipe = await pipeFor(kase.task, kase.model);
    const got = (await pipe(readFileSync(path.join(IMAGES, kase.image)))) as Record<string, unknown>[];
    t.true(Array.isArray(got));
    const ref = readFileSync(path.join(IMAGES, refOf(kase.image)));
    const size = { w: ref.readUInt32BE(16), h: ref.readUInt32BE(20) };
    for (const item of got) {
      t.is(typeof item.label, 'string');
      if (kase.task === 'image-segmentation') {
        const m = await maskPixels(item.mask as string);
        t.deepEqual([m.width, m.height], [size.w, size.h], kase.image);
      } else {
        const box = item.box as Record<string, number>;
        t.true(Object.values(box).every(Number.isInteger));
      }
    }
  }
});

test('segmentation masks are 0/255 grayscale PNGs, ids disjoint, semantic scores null', async (t) => {
  const seg = await pipeFor('image-segmentation', 'segformer-tiny');
  const out = (await seg(readFileSync(path.join(IMAGES, 'rgb_300x200.png')))) as {
    score: number | null;
    mask: string;
  }[];
  t.true(out.length >= 2);
  const covered = new Uint8Array(300 * 200);
  for (const s of out) {
    t.is(s.score, null);
    const png = Buffer.from(s.mask, 'base64');
    t.is(png.toString('latin1', 1, 4), 'PNG');
    t.is(png[24], 8); // bit depth
    t.is(png[25], 0); // grayscale
    const m = await maskPixels(s.mask);
    m.gray.forEach((v, i) => {
      t.true(v === 0 || v === 255);
      if (v === 255) covered[i] = (covered[i] as number) + 1;
    });
  }
  // Semantic segments partition the image.
  t.true(covered.every((c) => c === 1));
});

test('a list of images on a 2-worker engine is split across the workers and equals the goldens', async (t) => {
  const { files, cases } = listCases();
  const pipe = (await pipeline('image-classification', path.join(MODELS, 'vit-tiny'), {
    workers: 2,
  })) as unknown as VisionPipe;
  try {
    const got = (await pipe(files.map((f) => readFileSync(path.join(IMAGES, f))))) as unknown[];
    t.is(got.length, files.length);
    for (const [i, kase] of cases.entries()) {
      const r = await compare(kase, got[i]);
      t.deepEqual(r.problems, [], files[i]);
    }
  } finally {
    await pipe.dispose();
  }
});

test("no run holds more images than the engine's batch size, and the results equal the goldens", async (t) => {
  const { files, cases } = listCases();
  const { engineRunnerFactory } = await import('../../ts/index.js');
  const factory = engineRunnerFactory({ workers: 0, batching: { maxBatchSize: 2 } });
  const rows: number[] = [];
  const pipe = (await pipeline('image-classification', path.join(MODELS, 'vit-tiny'), {
    createRunner: async (file, options) => {
      const runner = await factory(file, options);
      const run = runner.run.bind(runner);
      runner.run = (feeds, opts) => {
        rows.push((feeds.pixel_values?.dims[0] ?? 0) as number);
        return run(feeds, opts);
      };
      return runner;
    },
  })) as unknown as VisionPipe;
  try {
    const got = (await pipe(files.map((f) => readFileSync(path.join(IMAGES, f))))) as unknown[];
    t.true(
      rows.every((n) => n >= 1 && n <= 2),
      JSON.stringify(rows),
    );
    t.is(
      rows.reduce((a, b) => a + b, 0),
      files.length,
    );
    for (const [i, kase] of cases.entries()) {
      const r = await compare(kase, got[i]);
      t.deepEqual(r.problems, [], files[i]);
    }
  } finally {
    await pipe.dispose();
  }
});

/** Images of the vit-tiny goldens without parameters, with their cases. */
function listCases(): { files: string[]; cases: VisionCase[] } {
  const files = [
    'rgb_64x48.png',
    'rgb_300x200.png',
    'gif_64x48.gif',
    'exif6_64x48.png',
    'webp_lossless_64x48.webp',
  ];
  const cases = files.map((file) => {
    const found = GOLDENS.cases.find(
      (c) =>
        c.task === 'image-classification' &&
        c.model === 'vit-tiny' &&
        c.image === file &&
        JSON.stringify(c.parameters) === '{}',
    );
    if (found === undefined) throw new Error(`no golden for ${file}`);
    return found;
  });
  return { files, cases };
}

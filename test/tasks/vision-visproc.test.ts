/**
 * The MobileViT, DPT, PVT and Perceiver image processors against the transformers 4.57.3
 * pipeline goldens of scripts/fixtures/make_visproc_goldens.py (test/fixtures/goldens/
 * vision-visproc.json): MobileViT and PVT classification, a ViT classifier served with
 * PerceiverImageProcessor, MobileViT and DPT semantic segmentation, and SegFormer's network
 * served with DPTImageProcessor's aspect-keeping resize and padding, over the image corpus.
 *
 * As in vision.test.ts, JPEG cases run on the reference's own decode (`*.ref.png`, exact) and
 * on the JPEG bytes (loose: well-formed outputs at the oriented size).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadImageProcessor } from '../../ts/vision/processor.js';
import {
  IMAGES,
  isJpeg,
  maskPixels,
  pipeCache,
  readGoldens,
  refOf,
  runGoldens,
  type VisionCase,
} from './vision-goldens.js';

const GOLDENS = readGoldens('vision-visproc.json');

const { pipeFor, disposeAll } = pipeCache();

test.after.always(disposeAll);

const MODELS_OF = {
  'image-classification': ['mobilevit-tiny', 'pvt-tiny', 'vit-perceiver-proc-tiny'],
  'image-segmentation': ['mobilevit-seg-tiny', 'dpt-tiny', 'segformer-dpt-proc-tiny'],
} as const;

for (const [task, models] of Object.entries(MODELS_OF)) {
  for (const model of models) {
    test(`${task} ${model}: equal to the reference on every golden (JPEGs through the reference decode)`, async (t) => {
      const cases = GOLDENS.cases.filter((c) => c.task === task && c.model === model);
      t.true(cases.length >= GOLDENS.images.length);
      const { failures, checked, maxScoreDelta } = await runGoldens(cases, pipeFor);
      t.deepEqual(failures, []);
      t.true(checked > cases.length / 2);
      t.log(`${checked} outputs equal, largest score difference ${maxScoreDelta.toExponential(2)}`);
    });
  }
}

test('JPEG bytes: well-formed outputs at the oriented size', async (t) => {
  const cases = GOLDENS.cases.filter(
    (c): c is VisionCase & { output: Record<string, unknown>[] } =>
      isJpeg(c.image) && c.output !== undefined && Object.keys(c.parameters).length === 0,
  );
  t.true(cases.length > 10);
  for (const kase of cases) {
    const pipe = await pipeFor(kase.task, kase.model);
    const got = (await pipe(readFileSync(path.join(IMAGES, kase.image)))) as Record<string, unknown>[];
    t.is(got.length > 0, true);
    if (kase.task === 'image-classification') {
      t.is(got.length, kase.output.length);
      t.true(got.every((g, i) => i === 0 || (got[i - 1]?.score as number) >= (g.score as number)));
      continue;
    }
    const ref = readFileSync(path.join(IMAGES, refOf(kase.image)));
    const size = { w: ref.readUInt32BE(16), h: ref.readUInt32BE(20) };
    for (const item of got) {
      t.is(item.score, null);
      const m = await maskPixels(item.mask as string);
      t.deepEqual([m.width, m.height], [size.w, size.h], kase.image);
    }
  }
});

function withConfig(config: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-visproc-'));
  writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(config));
  return dir;
}

test('processor configs: defaults and the settings each family reads', (t) => {
  const load = (config: Record<string, unknown>) => loadImageProcessor(withConfig(config));
  const mobilevit = load({ image_processor_type: 'MobileViTImageProcessorFast' });
  t.is(mobilevit.type, 'MobileViTImageProcessor');
  t.is(mobilevit.kind, 'semantic');
  t.like(mobilevit.spec, {
    resizeMode: 'shortest_edge',
    shortestEdge: 224,
    centerCrop: { width: 256, height: 256 },
    flipChannelOrder: true,
    imageMean: undefined,
  });
  // The legacy feature extractor name and integer sizes; the flip can be turned off.
  t.like(
    load({
      feature_extractor_type: 'MobileViTFeatureExtractor',
      size: 288,
      crop_size: 256,
      do_flip_channel_order: false,
    }).spec,
    { shortestEdge: 288, flipChannelOrder: undefined },
  );
  const dpt = load({ image_processor_type: 'DPTImageProcessor' });
  t.like(dpt.spec, {
    resizeMode: 'dpt',
    height: 384,
    width: 384,
    keepAspectRatio: false,
    ensureMultipleOf: 1,
    resample: 3,
    sizeDivisor: undefined,
  });
  t.like(
    load({
      image_processor_type: 'DPTImageProcessor',
      size: 512,
      keep_aspect_ratio: true,
      ensure_multiple_of: 32,
      do_pad: true,
      size_divisor: 32,
    }).spec,
    { height: 512, width: 512, keepAspectRatio: true, ensureMultipleOf: 32, sizeDivisor: 32 },
  );
  t.throws(() => load({ image_processor_type: 'DPTImageProcessor', do_pad: true }), {
    message: /size_divisor/,
  });
  t.throws(() => load({ image_processor_type: 'DPTImageProcessor', size: { shortest_edge: 384 } }), {
    message: /height and width/,
  });
  t.like(load({ image_processor_type: 'PvtImageProcessor' }).spec, {
    resizeMode: 'exact',
    height: 224,
    imageMean: [0.485, 0.456, 0.406],
  });
  const perceiver = load({ image_processor_type: 'PerceiverImageProcessor' });
  t.like(perceiver.spec, {
    resizeMode: 'exact',
    resample: 3,
    centerCrop: undefined,
    preCrop: { sizeHeight: 224, sizeWidth: 224, cropHeight: 256, cropWidth: 256 },
  });
  t.is(
    load({ image_processor_type: 'PerceiverImageProcessor', do_center_crop: false }).spec.preCrop,
    undefined,
  );
});

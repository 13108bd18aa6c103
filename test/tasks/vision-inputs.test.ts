/**
 * Image inputs (bytes, paths, base64, data: URLs; URLs refused) and the reading of
 * preprocessor_config.json (defaults per processor, integer sizes, the `Fast` suffix, the
 * resize arithmetic of MobileNet, EfficientNet, LeViT and PoolFormer), plus the CLI on an image
 * file.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { pipeline } from '../../ts/index.js';
import { imageBytes } from '../../ts/vision/input.js';
import { loadImageProcessor } from '../../ts/vision/processor.js';
import { GOLDENS, IMAGES, MODELS } from './vision-goldens.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const file = path.join(IMAGES, 'rgb_64x48.png');
const bytes = readFileSync(file);
const lib = { localFiles: true, maxBytes: 1 << 20 };
const server = { localFiles: false, maxBytes: 1 << 20 };

test('every input form gives the same bytes', async (t) => {
  const b64 = bytes.toString('base64');
  for (const v of [
    bytes,
    new Uint8Array(bytes),
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
    b64,
    `data:image/png;base64,${b64}`,
    ` ${b64.slice(0, 40)}\n${b64.slice(40)} `,
    bytes.toString('base64url'),
    { image: b64 },
    file,
  ]) {
    t.deepEqual(Buffer.from(await imageBytes(v, 'inputs', lib)), bytes);
  }
});

test('URLs, missing files, bad base64 and oversized data are refused', async (t) => {
  await t.throwsAsync(imageBytes('https://example.com/cat.png', 'inputs', lib), { message: /not fetched/ });
  await t.throwsAsync(imageBytes('/no/such/file.png', 'inputs', lib), { message: /no file at/ });
  await t.throwsAsync(imageBytes(file, 'inputs', server), { message: /not an image/ });
  await t.throwsAsync(imageBytes('data:image/png,abc', 'inputs', lib), { message: /base64/ });
  await t.throwsAsync(imageBytes('', 'inputs', lib), { message: /empty/ });
  await t.throwsAsync(imageBytes(42, 'inputs', lib), { message: /must be image bytes/ });
  await t.throwsAsync(imageBytes('A'.repeat(64), 'inputs', { localFiles: false, maxBytes: 10 }), {
    message: /limit/,
  });
  await t.throwsAsync(imageBytes(file, 'inputs', { localFiles: true, maxBytes: 10 }), { message: /limit/ });
});

function withConfig(config: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-proc-'));
  writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(config));
  return dir;
}

test('a do_* switch set to null is off, as the reference processor reads None', (t) => {
  const spec = (extra: Record<string, unknown>) =>
    loadImageProcessor(withConfig({ image_processor_type: 'DeiTImageProcessor', ...extra })).spec;
  const all = spec({});
  t.true(all.resizeMode !== undefined && all.centerCrop !== undefined);
  t.true(all.rescaleFactor !== undefined && all.imageMean !== undefined);
  const none = spec({ do_resize: null, do_center_crop: null, do_rescale: null, do_normalize: null });
  t.is(none.resizeMode, undefined);
  t.is(none.centerCrop, undefined);
  t.is(none.rescaleFactor, undefined);
  t.is(none.imageMean, undefined);
});

test('processor configs: families, defaults, integer sizes and the Fast suffix', (t) => {
  const vit = loadImageProcessor(path.join(MODELS, 'vit-tiny'));
  t.like(vit.spec, { resizeMode: 'exact', width: 32, height: 32, resample: 2 });
  const fast = loadImageProcessor(withConfig({ image_processor_type: 'ViTImageProcessorFast', size: 48 }));
  t.is(fast.type, 'ViTImageProcessor');
  t.like(fast.spec, { resizeMode: 'exact', width: 48, height: 48, imageMean: [0.5, 0.5, 0.5] });
  const deit = loadImageProcessor(withConfig({ image_processor_type: 'DeiTImageProcessor' }));
  t.like(deit.spec, {
    resizeMode: 'exact',
    width: 256,
    resample: 3,
    centerCrop: { width: 224, height: 224 },
  });
  const clip = loadImageProcessor(withConfig({ image_processor_type: 'CLIPImageProcessor', size: 224 }));
  t.like(clip.spec, {
    resizeMode: 'shortest_edge',
    shortestEdge: 224,
    centerCrop: { width: 224, height: 224 },
  });
  const convnext = loadImageProcessor(path.join(MODELS, 'convnext-tiny'));
  t.like(convnext.spec, { resizeMode: 'convnext', shortestEdge: 40, cropPct: 0.875, resample: 3 });
  const detr = loadImageProcessor(
    withConfig({ feature_extractor_type: 'DetrFeatureExtractor', size: 800, max_size: 1333 }),
  );
  t.like(detr.spec, { resizeMode: 'detr', shortestEdge: 800, longestEdge: 1333 });
  t.true(detr.pixelMask);
  const yolos = loadImageProcessor(path.join(MODELS, 'yolos-tiny'));
  t.like(yolos.spec, { resizeMode: 'yolos', shortestEdge: 64, longestEdge: 96 });
  const plain = loadImageProcessor(
    withConfig({
      image_processor_type: 'SegformerImageProcessor',
      do_resize: false,
      do_normalize: false,
      do_rescale: false,
    }),
  );
  t.is(plain.spec.resizeMode, undefined);
  t.is(plain.spec.rescaleFactor, undefined);
  t.throws(() => loadImageProcessor(withConfig({ image_processor_type: 'OneFormerImageProcessor' })), {
    message: /not supported/,
  });
  t.throws(() => loadImageProcessor(withConfig({ image_processor_type: 'ViTImageProcessor', resample: 9 })), {
    message: /resample/,
  });
  t.throws(() => loadImageProcessor(os.tmpdir()), { message: /preprocessor_config.json/ });
});

test('processor configs: MobileNet V1 and V2 (shortest edge then crop; legacy integer sizes)', (t) => {
  const legacy = loadImageProcessor(path.join(MODELS, 'mobilenet-v2-tiny'));
  t.is(legacy.configType, 'MobileNetV2FeatureExtractor');
  t.is(legacy.type, 'MobileNetV2ImageProcessor');
  t.like(legacy.spec, {
    resizeMode: 'shortest_edge',
    shortestEdge: 40,
    resample: 2,
    centerCrop: { width: 32, height: 32 },
    imageMean: [0.5, 0.5, 0.5],
  });
  const v1 = loadImageProcessor(withConfig({ image_processor_type: 'MobileNetV1ImageProcessorFast' }));
  t.is(v1.type, 'MobileNetV1ImageProcessor');
  t.like(v1.spec, {
    resizeMode: 'shortest_edge',
    shortestEdge: 256,
    resample: 2,
    centerCrop: { width: 224, height: 224 },
    rescaleFactor: 1 / 255,
    imageStd: [0.5, 0.5, 0.5],
  });
  // Only the shortest edge counts: `longest_edge` is no cap (as for CLIP and BiT).
  for (const type of ['MobileNetV2ImageProcessor', 'CLIPImageProcessor']) {
    const capped = loadImageProcessor(
      withConfig({ image_processor_type: type, size: { shortest_edge: 300, longest_edge: 400 } }),
    );
    t.is(capped.spec.shortestEdge, 300);
    t.is(capped.spec.longestEdge, undefined);
  }
  const hw = loadImageProcessor(
    withConfig({ image_processor_type: 'MobileNetV2ImageProcessor', size: [20, 30], do_center_crop: false }),
  );
  t.like(hw.spec, { resizeMode: 'exact', height: 20, width: 30 });
  t.is(hw.spec.centerCrop, undefined);
  t.throws(
    () =>
      loadImageProcessor(
        withConfig({ image_processor_type: 'MobileNetV1ImageProcessor', size: { longest_edge: 9 } }),
      ),
    { message: /not supported by MobileNetV1ImageProcessor/ },
  );
});

test('processor configs: EfficientNet (exact size, nearest, rescale offset, include_top)', (t) => {
  const defaults = loadImageProcessor(withConfig({ image_processor_type: 'EfficientNetImageProcessor' }));
  t.like(defaults.spec, {
    resizeMode: 'exact',
    width: 346,
    height: 346,
    resample: 0,
    rescaleFactor: 1 / 255,
    imageMean: [0.5, 0.5, 0.5],
    extraStd: [0.5, 0.5, 0.5],
  });
  t.is(defaults.spec.centerCrop, undefined, 'no center crop by default');
  t.is(defaults.spec.rescaleOffset, undefined);
  const fixture = loadImageProcessor(path.join(MODELS, 'efficientnet-tiny'));
  t.like(fixture.spec, {
    resizeMode: 'exact',
    width: 36,
    height: 36,
    rescaleOffset: true,
    extraStd: [0.47853944, 0.4732864, 0.47434163],
  });
  const fast = loadImageProcessor(
    withConfig({
      image_processor_type: 'EfficientNetImageProcessorFast',
      size: 224,
      do_center_crop: true,
      do_normalize: false,
      rescale_offset: true,
      do_rescale: false,
    }),
  );
  t.is(fast.type, 'EfficientNetImageProcessor');
  t.like(fast.spec, {
    resizeMode: 'exact',
    width: 224,
    height: 224,
    centerCrop: { width: 289, height: 289 },
  });
  // include_top divides by the std even without the normalisation; no rescale, no offset.
  t.deepEqual(fast.spec.extraStd, [0.5, 0.5, 0.5]);
  t.is(fast.spec.imageMean, undefined);
  t.is(fast.spec.rescaleFactor, undefined);
  t.is(fast.spec.rescaleOffset, undefined);
  for (const includeTop of [false, null]) {
    const off = loadImageProcessor(
      withConfig({ image_processor_type: 'EfficientNetImageProcessor', include_top: includeTop }),
    );
    t.is(off.spec.extraStd, undefined);
  }
  t.throws(
    () =>
      loadImageProcessor(
        withConfig({ image_processor_type: 'EfficientNetImageProcessor', size: { shortest_edge: 5 } }),
      ),
    { message: /not supported by EfficientNetImageProcessor/ },
  );
  t.throws(
    () =>
      loadImageProcessor(
        withConfig({ image_processor_type: 'EfficientNetImageProcessor', include_top: 'yes' }),
      ),
    { message: /include_top must be a boolean/ },
  );
});

test('processor configs: LeViT and PoolFormer (scaled shortest edge, int() rounding, then crop)', (t) => {
  const levit = loadImageProcessor(withConfig({ image_processor_type: 'LevitImageProcessorFast' }));
  t.is(levit.type, 'LevitImageProcessor');
  // int((256 / 224) * 224) = 256, bicubic, ImageNet mean and std.
  t.like(levit.spec, {
    resizeMode: 'shortest_edge',
    shortestEdge: 256,
    resample: 3,
    centerCrop: { width: 224, height: 224 },
    imageMean: [0.485, 0.456, 0.406],
  });
  // An integer size is the shortest edge: int((256 / 224) * 50) = 57.
  const levitInt = loadImageProcessor(withConfig({ image_processor_type: 'LevitImageProcessor', size: 50 }));
  t.is(levitInt.spec.shortestEdge, 57);
  t.like(loadImageProcessor(path.join(MODELS, 'levit-tiny')).spec, {
    shortestEdge: 57,
    centerCrop: { width: 48, height: 48 },
  });
  const levitHw = loadImageProcessor(
    withConfig({ image_processor_type: 'LevitImageProcessor', size: { height: 40, width: 30 } }),
  );
  t.like(levitHw.spec, { resizeMode: 'exact', height: 40, width: 30 });

  const pool = loadImageProcessor(withConfig({ image_processor_type: 'PoolFormerImageProcessor' }));
  // int(224 / 0.9) = 248.
  t.like(pool.spec, {
    resizeMode: 'shortest_edge',
    shortestEdge: 248,
    resample: 3,
    centerCrop: { width: 224, height: 224 },
    imageStd: [0.229, 0.224, 0.225],
  });
  t.like(loadImageProcessor(path.join(MODELS, 'poolformer-tiny')).spec, {
    shortestEdge: 36,
    centerCrop: { width: 32, height: 32 },
  });
  const noPct = loadImageProcessor(
    withConfig({ image_processor_type: 'PoolFormerImageProcessorFast', crop_pct: null }),
  );
  t.is(noPct.spec.shortestEdge, 224);
  // A square {height, width} resizes the shortest edge to int(32 / 0.875) = 36; a non-square one
  // both sides (int(64 / 0.875) = 73).
  const square = loadImageProcessor(
    withConfig({
      image_processor_type: 'PoolFormerImageProcessor',
      size: { height: 32, width: 32 },
      crop_pct: 0.875,
    }),
  );
  t.like(square.spec, { resizeMode: 'shortest_edge', shortestEdge: 36 });
  const oblong = loadImageProcessor(
    withConfig({
      image_processor_type: 'PoolFormerImageProcessor',
      size: { height: 32, width: 64 },
      crop_pct: 0.875,
    }),
  );
  t.like(oblong.spec, { resizeMode: 'exact', height: 36, width: 73 });
  const plainHw = loadImageProcessor(
    withConfig({
      image_processor_type: 'PoolFormerImageProcessor',
      size: { height: 32, width: 64 },
      crop_pct: null,
    }),
  );
  t.like(plainHw.spec, { resizeMode: 'exact', height: 32, width: 64 });
  for (const cropPct of [0, -1, 'big', 1000]) {
    const err = t.throws(() =>
      loadImageProcessor(withConfig({ image_processor_type: 'PoolFormerImageProcessor', crop_pct: cropPct })),
    );
    t.is((err as { code?: string } | undefined)?.code, 'ERR_MODEL_LOAD');
  }
});

test('processor configs: integer and list sizes must be positive integers', (t) => {
  for (const size of [0, -3, 1.5, [0, 3], [2, 'x']]) {
    const err = t.throws(() =>
      loadImageProcessor(withConfig({ image_processor_type: 'MobileNetV2ImageProcessor', size })),
    );
    t.is((err as { code?: string } | undefined)?.code, 'ERR_MODEL_LOAD', JSON.stringify(size));
    t.regex(err?.message ?? '', /size/);
  }
});

test('a list of images is a batch; parameters are checked', async (t) => {
  const pipe = await pipeline('image-classification', path.join(MODELS, 'vit-tiny'), { workers: 0 });
  const other = readFileSync(path.join(IMAGES, 'rgb_300x200.png'));
  const [a, b] = (await pipe([bytes, other], { top_k: 2 })) as unknown[];
  t.deepEqual(a, await pipe(bytes, { top_k: 2 }));
  t.deepEqual(b, await pipe(other, { top_k: 2 }));
  await t.throwsAsync(pipe(bytes, { top_k: 1.5 }), { message: /top_k/ });
  await t.throwsAsync(pipe(bytes, { function_to_apply: 'relu' as 'none' }), { message: /function_to_apply/ });
  await t.throwsAsync(pipe([] as unknown as Uint8Array[]), { message: /At least one image/ });
  await t.throwsAsync(pipe(readFileSync(path.join(IMAGES, 'truncated.png'))), {
    code: 'ERR_IMAGE_TRUNCATED',
  });
  const noTokenizer = await t.throwsAsync(
    pipeline('text-classification', path.join(MODELS, 'vit-tiny'), { workers: 0 }),
  );
  t.regex(noTokenizer?.message ?? '', /tokenizer/);
  await pipe.dispose();
});

test('an image 1 pixel high is refused with or without normalisation (the reference reads it channels-first)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-nonorm-'));
  for (const f of ['model.onnx', 'config.json'])
    copyFileSync(path.join(MODELS, 'vit-tiny', f), path.join(dir, f));
  const proc = JSON.parse(readFileSync(path.join(MODELS, 'vit-tiny', 'preprocessor_config.json'), 'utf8'));
  writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ ...proc, do_normalize: false }));
  const thin = readFileSync(path.join(IMAGES, 'rgb_1x1.png'));
  for (const folder of [path.join(MODELS, 'vit-tiny'), dir]) {
    const pipe = await pipeline('image-classification', folder, { workers: 0 });
    const err = await t.throwsAsync(pipe(thin), { code: 'ERR_INVALID_INPUT' });
    t.regex(err?.message ?? '', /1 pixel high/);
    t.is((await pipe(bytes)).length, 5, 'other images still run');
    await pipe.dispose();
  }
});

test('the CLI runs a vision task on an image file', async (t) => {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(root, 'ts', 'cli.ts'),
        'run',
        'object-detection',
        path.join(MODELS, 'detr-tiny'),
        file,
        '-p',
        '{"threshold": 0}',
      ],
      { cwd: root },
    );
    let text = '';
    child.stdout.on('data', (c: Buffer) => {
      text += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))));
  });
  const want = GOLDENS.cases.find(
    (c) => c.model === 'detr-tiny' && c.image === 'rgb_64x48.png' && c.parameters.threshold === 0,
  );
  const got = JSON.parse(out) as { label: string; box: unknown }[];
  t.deepEqual(
    got.map((d) => [d.label, d.box]),
    want?.output?.map((d) => [d.label, d.box]),
  );
});

/** A copy of a fixture with its preprocessor_config.json patched. */
function patchedModel(model: string, patch: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${model}-`));
  for (const name of ['config.json', 'model.onnx', 'preprocessor_config.json']) {
    copyFileSync(path.join(MODELS, model, name), path.join(dir, name));
  }
  const cfgFile = path.join(dir, 'preprocessor_config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(cfgFile, JSON.stringify({ ...cfg, ...patch }));
  return dir;
}

test('a processor config whose sizes would make a huge image is refused per call, before allocating it', async (t) => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ['image-classification', 'vit-tiny', { size: { height: 100_000, width: 100_000 } }],
    [
      'image-classification',
      'mobilenet-v1-tiny',
      { do_center_crop: true, crop_size: { height: 60_000, width: 60_000 } },
    ],
    ['image-segmentation', 'segformer-dpt-proc-tiny', { do_pad: true, size_divisor: 1_000_000 }],
  ];
  for (const [task, model, patch] of cases) {
    const pipe = await pipeline(task as 'image-classification', patchedModel(model, patch), { workers: 0 });
    try {
      const err = await t.throwsAsync(pipe(bytes));
      t.is((err as { code?: string }).code, 'ERR_IMAGE_TOO_LARGE', JSON.stringify(patch));
      t.regex(err?.message ?? '', /preprocessor_config\.json/);
    } finally {
      await pipe.dispose();
    }
  }
});

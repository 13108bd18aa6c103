/**
 * Image inputs (bytes, paths, base64, data: URLs; URLs refused) and the reading of
 * preprocessor_config.json (defaults per processor, integer sizes, the `Fast` suffix), plus the
 * CLI on an image file.
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
  t.throws(() => loadImageProcessor(withConfig({ image_processor_type: 'MaskFormerImageProcessor' })), {
    message: /not supported/,
  });
  t.throws(() => loadImageProcessor(withConfig({ image_processor_type: 'ViTImageProcessor', resample: 9 })), {
    message: /resample/,
  });
  t.throws(() => loadImageProcessor(os.tmpdir()), { message: /preprocessor_config.json/ });
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

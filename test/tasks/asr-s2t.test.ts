/**
 * Speech2Text speech recognition (facebook/s2t-* as optimum exports it: encoder_model.onnx on
 * the filter bank, decoder_model_merged.onnx, the slow Speech2TextTokenizer's
 * sentencepiece.bpe.model + vocab.json and no tokenizer.json) against transformers 4.57.3 on
 * test/fixtures/goldens/s2t.json (written by scripts/fixtures/make_s2t_goldens.py from the
 * random test/fixtures/models/s2t-tiny, built by scripts/fixtures/make_s2t_model.py):
 *
 * - the pipeline on ORTModelForSpeechSeq2Seq: clips as file bytes and seeded raw samples, the
 *   model's generation config (5 beams, 200 tokens) and parameter overrides, chunking, and the
 *   reference's refusals: texts equal, and a failure wherever the reference raises;
 * - Speech2TextFeatureExtractor's features (numpy path) for the default settings and variants
 *   (no mean or variance normalisation, no CMVN, 40 mel bins, 8 kHz);
 * - Speech2TextTokenizer's ids and decoding, with upper-casing and with the multilingual
 *   `<lang:xx>` prefix.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { InvalidInputError, pipeline } from '../../ts/index.js';
import { audioFeatures } from '../../ts/native.js';
import { folderTokenizer } from '../../ts/runtime/vocab-tokenizer.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..', '..');
const fixtures = path.join(here, '..', 'fixtures');
const MODEL = path.join(fixtures, 'models', 's2t-tiny');

interface PipelineCase {
  clip?: string;
  signal?: string;
  length?: number;
  sampling_rate?: number;
  stride?: [number, number];
  /** The samples ffmpeg decoded from an upsampled clip (base64 float32). */
  decoded?: string;
  parameters: Record<string, unknown>;
  output?: { text: string };
  error?: { type: string; message: string };
}

interface FeatureCase {
  variant: string;
  kwargs: Record<string, unknown>;
  signal?: string;
  length?: number;
  clip?: string;
  batch?: { signal: string; length: number }[];
  sampling_rate: number;
  shape: number[];
  input_features: (number | string)[];
  error?: { type: string; message: string };
}

interface TokenizerCase {
  name: string;
  dir: string;
  eos_token_id: number;
  prefix_tokens: number[];
  encode: { text: string; input_ids: number[]; tokens: string[] }[];
  decode: { ids: number[]; skip_special_tokens: boolean; text: string }[];
}

const golden = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 's2t.json'), 'utf8')) as {
  signals: Record<string, { base64: string }>;
  pipeline: PipelineCase[];
  features: FeatureCase[];
  tokenizer: TokenizerCase[];
};

function signal(name: string, length: number): Float32Array {
  return base64Samples((golden.signals[name] as { base64: string }).base64).slice(0, length);
}

type Pipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };

function base64Samples(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

/**
 * The case's input: the clip's bytes, or seeded samples. An upsampled clip (8 kHz) is given as
 * the samples the reference's ffmpeg decoded: the filter bank's per-bin normalisation magnifies
 * its empty upper band, where the library's resampler (within 1e-5 of ffmpeg's when upsampling,
 * test/audio) changes the greedy text. The decoder has its own goldens.
 */
function inputOf(c: PipelineCase): unknown {
  if (c.decoded !== undefined) return { raw: base64Samples(c.decoded), sampling_rate: 16000 };
  if (c.clip !== undefined) return readFileSync(path.join(fixtures, 'audio', c.clip));
  const input: Record<string, unknown> = {
    raw: signal(c.signal as string, c.length as number),
    sampling_rate: c.sampling_rate ?? 16000,
  };
  if (c.stride !== undefined) input.stride = c.stride;
  return input;
}

const label = (c: PipelineCase) =>
  `${c.clip ?? `${c.signal}[:${c.length}]${c.stride ? ' stride' : ''}`}${c.decoded ? ' (decoded)' : ''} ${JSON.stringify(c.parameters)}`;

let inline: Promise<Pipe> | undefined;
const pipeInline = () => {
  inline ??= pipeline('automatic-speech-recognition', MODEL, { workers: 0 }) as unknown as Promise<Pipe>;
  return inline;
};

test.after.always(async () => {
  if (inline !== undefined) await (await inline).dispose();
});

test('the goldens cover outputs, refusals, feature variants and both tokenizers', (t) => {
  const outputs = golden.pipeline.filter((c) => c.output !== undefined);
  t.true(outputs.length >= 30);
  t.true(golden.pipeline.filter((c) => c.error !== undefined).length >= 4);
  t.true(new Set(outputs.map((c) => c.output?.text)).size >= 20);
  t.true(new Set(golden.features.map((f) => f.variant)).size >= 6);
  t.is(golden.tokenizer.length, 2);
});

for (const [i, c] of golden.pipeline.entries()) {
  test(`s2t #${i} ${label(c)}`, async (t) => {
    const pipe = await pipeInline();
    if (c.error !== undefined) {
      await t.throwsAsync(pipe(inputOf(c), c.parameters));
      return;
    }
    t.deepEqual(await pipe(inputOf(c), c.parameters), c.output);
  });
}

test('concurrent calls on the default engine give the goldens', async (t) => {
  const pipe = (await pipeline('automatic-speech-recognition', MODEL)) as unknown as Pipe;
  try {
    const cases = golden.pipeline.filter((c) => c.output !== undefined).slice(0, 16);
    const got = await Promise.all(cases.map((c) => pipe(inputOf(c), c.parameters)));
    cases.forEach((c, i) => {
      t.deepEqual(got[i], c.output, label(c));
    });
  } finally {
    await pipe.dispose();
  }
});

test('audio with no feature frame is a clear input error', async (t) => {
  const pipe = await pipeInline();
  for (const n of [1, 239, 399]) {
    const err = await t.throwsAsync(pipe({ raw: new Float32Array(n).fill(0.1), sampling_rate: 16000 }));
    t.true(err instanceof InvalidInputError, String(err));
    t.regex(err?.message ?? '', /too short/);
  }
});

test('timestamps and input strides are refused with the reference messages', async (t) => {
  const pipe = await pipeInline();
  const audio = { raw: signal('noise', 4000), sampling_rate: 16000 };
  const ts = await t.throwsAsync(pipe(audio, { return_timestamps: true }));
  t.is(ts?.message, 'We cannot return_timestamps yet on non-CTC models apart from Whisper!');
  const stride = await t.throwsAsync(pipe({ ...audio, stride: [100, 100] }));
  t.is(stride?.message, 'Stride is only usable with CTC models, try removing it !');
});

/** A golden feature value: a float, or "NaN" / "Infinity" / "-Infinity". */
const goldenValue = (v: number | string) => (typeof v === 'number' ? v : Number(v));

for (const f of golden.features) {
  if (f.batch !== undefined || f.clip !== undefined || f.error !== undefined) continue;
  test(`features ${f.variant} ${f.signal}[:${f.length}] at ${f.sampling_rate} Hz`, async (t) => {
    const k = f.kwargs;
    const out = await audioFeatures(signal(f.signal as string, f.length as number), {
      kind: 's2t',
      samplingRate: f.sampling_rate,
      numMelBins: (k.num_mel_bins as number | undefined) ?? 80,
      doCeptralNormalize: (k.do_ceptral_normalize as boolean | undefined) ?? true,
      normalizeMeans: (k.normalize_means as boolean | undefined) ?? true,
      normalizeVars: (k.normalize_vars as boolean | undefined) ?? true,
    });
    t.deepEqual(out.shape.slice(1), f.shape);
    let worst = 0;
    f.input_features.forEach((w, i) => {
      const want = goldenValue(w);
      const got = out.values[i] as number;
      if (!Number.isFinite(want)) t.true(Object.is(got, want), `value ${i}: ${got} vs ${want}`);
      else worst = Math.max(worst, Math.abs(got - want));
    });
    // Measured: at most 1.4e-7 (the last bit of a few values).
    t.true(worst <= 1e-5, `largest difference ${worst}`);
  });
}

for (const g of golden.tokenizer) {
  test(`${g.name}: ids and decoding as Speech2TextTokenizer`, (t) => {
    const tok = folderTokenizer(path.join(root, g.dir));
    if (tok === null) return t.fail('no tokenizer');
    for (const c of g.encode) {
      t.deepEqual(Array.from(tok.encode(c.text).inputIds, Number), c.input_ids, JSON.stringify(c.text));
    }
    for (const c of g.decode) {
      t.is(
        tok.decode(c.ids, { skip_special_tokens: c.skip_special_tokens }),
        c.text,
        `${JSON.stringify(c.ids)} skip=${c.skip_special_tokens}`,
      );
    }
    t.true(g.encode.length >= 20 && g.decode.length >= 60);
  });
}

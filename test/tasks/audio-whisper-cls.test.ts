/**
 * Audio classification with a Whisper encoder (WhisperForAudioClassification: log-mel features
 * padded or cut to 30 s, the encoder, mean pooling and the head) against transformers 4.57.3's
 * pipeline over optimum's ORT model on the tiny random fixture
 * (test/fixtures/goldens/whisper-audio-cls.json, scripts/fixtures/make_whisper_cls_goldens.py):
 * the raw bytes of the lossless clips of the audio corpus with top_k and function_to_apply
 * variants, and seeded noise as {raw, sampling_rate}, one input longer than 30 s.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { fixtures, PipeCache } from './goldens.js';

interface Output {
  score: number;
  label: string;
}

interface Case {
  clip?: string;
  raw?: string;
  parameters: Record<string, unknown>;
  output: Output[];
  min_gap: number | null;
  exact_decode: boolean;
}

const golden = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'whisper-audio-cls.json'), 'utf8')) as {
  model: string;
  cases: Case[];
};

function inputOf(c: Case): unknown {
  if (c.clip !== undefined) return readFileSync(path.join(fixtures, 'audio', c.clip));
  const bytes = Buffer.from(c.raw ?? '', 'base64');
  return {
    raw: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)),
    sampling_rate: 16000,
  };
}

const cls = new PipeCache('audio-classification', { workers: 0 });
test.after.always(async () => {
  await cls.dispose();
});

test('Whisper audio-classification: reference labels in order, scores within 1e-4 on exactly decoded input', async (t) => {
  t.true(golden.cases.length >= 40);
  const pipe = await cls.get(golden.model);
  let worst = 0;
  let exact = 0;
  for (const c of golden.cases) {
    const out = (await pipe(inputOf(c) as never, c.parameters as never)) as Output[];
    const label = `${c.clip ?? `raw ${Buffer.from(c.raw ?? '', 'base64').length / 4} samples`} ${JSON.stringify(c.parameters)}`;
    t.is(out.length, c.output.length, label);
    // Resampled or down-mixed clips go through a different resampler than ffmpeg's.
    const tol = c.exact_decode ? 1e-4 : 2e-3;
    c.output.forEach((want, i) => {
      const got = out[i];
      const d = Math.abs((got?.score ?? Number.NaN) - want.score);
      if (c.exact_decode) worst = Math.max(worst, d);
      t.true(d <= tol, `${label}: score ${i} off by ${d}`);
      if (c.exact_decode || (c.min_gap ?? 1) > 2 * tol) t.is(got?.label, want.label, label);
    });
    if (c.exact_decode) exact++;
  }
  t.true(exact >= 20, `${exact} exact cases`);
  t.log(
    `${golden.cases.length} cases (${exact} exactly decoded); largest score difference on those: ${worst.toExponential(2)}`,
  );
});

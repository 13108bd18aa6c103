/**
 * Speech recognition on a sequence-to-sequence speech model other than Whisper (the tiny random
 * Moonshine of test/fixtures/models/moonshine-tiny) against transformers 4.57.3's pipeline on
 * ORTModelForSpeechSeq2Seq (test/fixtures/goldens/moonshine.json, written by
 * scripts/fixtures/make_moonshine_goldens.py from the raw file bytes and from seeded raw samples):
 * the pipeline's default 5 beams and 256 new tokens, greedy and beam parameters, length rules,
 * chunked windows (concatenated, as the reference does for this type) and the reference's
 * refusals. Texts must be equal; where the reference raises, the call must fail.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { InvalidInputError, pipeline } from '../../ts/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures');
const MODEL = path.join(fixtures, 'models', 'moonshine-tiny');

interface Case {
  clip?: string;
  raw?: string;
  parameters: Record<string, unknown>;
  output?: { text: string };
  error?: { type: string; message: string };
}

const golden = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'moonshine.json'), 'utf8')) as {
  cases: Case[];
};

type Pipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };

function inputOf(c: Case): unknown {
  if (c.raw !== undefined) {
    const bytes = Buffer.from(c.raw, 'base64');
    const raw = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    return { raw, sampling_rate: 16000 };
  }
  return readFileSync(path.join(fixtures, 'audio', c.clip as string));
}

const label = (c: Case) =>
  `${c.clip ?? `raw ${Buffer.from(c.raw ?? '', 'base64').length / 4} samples`} ${JSON.stringify(c.parameters)}`;

let inline: Promise<Pipe> | undefined;
const pipeInline = () => {
  inline ??= pipeline('automatic-speech-recognition', MODEL, { workers: 0 }) as unknown as Promise<Pipe>;
  return inline;
};

test.after.always(async () => {
  if (inline !== undefined) await (await inline).dispose();
});

test('the golden covers outputs and refusals', (t) => {
  t.true(golden.cases.filter((c) => c.output !== undefined).length >= 20);
  t.true(golden.cases.some((c) => c.error !== undefined));
  // Outputs of different lengths, so that EOS and the token limit both end generations.
  const lengths = new Set(golden.cases.map((c) => c.output?.text.length ?? -1));
  t.true(lengths.size >= 8);
});

for (const [i, c] of golden.cases.entries()) {
  test(`moonshine #${i} ${label(c)}`, async (t) => {
    const pipe = await pipeInline();
    if (c.error !== undefined) {
      await t.throwsAsync(pipe(inputOf(c), c.parameters));
      return;
    }
    t.deepEqual(await pipe(inputOf(c), c.parameters), c.output);
  });
}

test('concurrent calls on the default engine give the goldens (encoder masks of different lengths never share a batch)', async (t) => {
  const pipe = (await pipeline('automatic-speech-recognition', MODEL)) as unknown as Pipe;
  try {
    const cases = golden.cases.filter((c) => c.output !== undefined);
    const got = await Promise.all(cases.map((c) => pipe(inputOf(c), c.parameters)));
    cases.forEach((c, i) => {
      t.deepEqual(got[i], c.output, label(c));
    });
  } finally {
    await pipe.dispose();
  }
});

test('audio too short for the encoder is a clear input error', async (t) => {
  const pipe = await pipeInline();
  const err = await t.throwsAsync(pipe({ raw: new Float32Array(400), sampling_rate: 16000 }));
  t.true(err instanceof InvalidInputError, String(err));
  t.regex(err?.message ?? '', /too short/);
});

test('timestamps are refused with the reference message', async (t) => {
  const pipe = await pipeInline();
  const err = await t.throwsAsync(
    pipe({ raw: new Float32Array(4000), sampling_rate: 16000 }, { return_timestamps: true }),
  );
  t.is(err?.message, 'We cannot return_timestamps yet on non-CTC models apart from Whisper!');
});

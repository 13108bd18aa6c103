/**
 * Dict inputs with a `stride` (the reference pipeline's streaming form,
 * `{raw, sampling_rate, stride: [left, right]}`) on CTC models, against transformers 4.57.3 on
 * test/fixtures/goldens/asr-stride.json (written by scripts/fixtures/make_asr_stride_goldens.py):
 * the strided logit frames are left out of the text and the timestamps, chunking replaces the
 * stride with its own windows, and more stride than samples is the reference's error.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { InvalidInputError } from '../../ts/index.js';
import { PipeCache } from './goldens.js';

const golden = JSON.parse(
  readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'goldens', 'asr-stride.json'), 'utf8'),
) as {
  signal: string;
  cases: {
    model: string;
    length: number;
    sampling_rate: number;
    stride: [number, number];
    parameters: Record<string, unknown>;
    output?: unknown;
    error?: { type: string; message: string };
  }[];
};

const bytes = Buffer.from(golden.signal, 'base64');
const signal = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
const asr = new PipeCache('automatic-speech-recognition', { workers: 0 });
test.after.always(() => asr.dispose());

test('the golden covers strides with and without timestamps, chunking and the refusal', (t) => {
  t.true(golden.cases.filter((c) => c.output !== undefined).length >= 16);
  t.true(golden.cases.some((c) => c.error !== undefined));
  t.true(golden.cases.some((c) => (c.output as { text: string } | undefined)?.text === ''));
});

for (const c of golden.cases) {
  test(`${c.model} ${c.length} samples stride ${JSON.stringify(c.stride)} ${JSON.stringify(c.parameters)}`, async (t) => {
    const pipe = await asr.get(c.model);
    const input = { raw: signal.slice(0, c.length), sampling_rate: c.sampling_rate, stride: c.stride };
    if (c.error !== undefined) {
      const err = await t.throwsAsync(pipe(input as never, c.parameters as never));
      t.true(err instanceof InvalidInputError, String(err));
      t.is(err?.message, c.error.message);
      return;
    }
    t.deepEqual(await pipe(input as never, c.parameters as never), c.output);
  });
}

test('a stride that is not two non-negative numbers is a clear input error', async (t) => {
  const pipe = await asr.get('wav2vec2-ctc-tiny');
  for (const stride of [[1], [1, 2, 3], ['1', 2], [-1, 0], [Number.NaN, 0], 'x']) {
    const err = await t.throwsAsync(
      pipe({ raw: signal.slice(0, 4000), sampling_rate: 16000, stride } as never),
    );
    t.true(err instanceof InvalidInputError, `${JSON.stringify(stride)}: ${String(err)}`);
    t.regex(err?.message ?? '', /stride/);
  }
  // `stride: null` is no stride, as in the reference.
  const plain = await pipe({ raw: signal.slice(0, 4000), sampling_rate: 16000 } as never);
  t.deepEqual(await pipe({ raw: signal.slice(0, 4000), sampling_rate: 16000, stride: null } as never), plain);
});

test('audio classification ignores a stride, as its reference pipeline does', async (t) => {
  const cls = new PipeCache('audio-classification', { workers: 0 });
  t.teardown(() => cls.dispose());
  const pipe = await cls.get('wav2vec2-audio-cls-tiny');
  const raw = signal.slice(0, 4000);
  const plain = await pipe({ raw, sampling_rate: 16000 } as never);
  t.deepEqual(await pipe({ raw, sampling_rate: 16000, stride: 'x' } as never), plain);
  t.deepEqual(await pipe({ raw, sampling_rate: 16000, stride: [1000, 1000] } as never), plain);
});

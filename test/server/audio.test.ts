/**
 * The audio tasks over HTTP: raw audio bodies (any audio content type), JSON with base64
 * `inputs` and parameters, answers equal to the reference goldens, and bad input as 400/413
 * with the server still serving. Request strings never read server files.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { InvalidInputError } from '../../ts/errors.js';
import { mapError } from '../../ts/server/errors.js';
import { fixtureModel, post, startTestServer, type TestServer } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures');
const clip = (name: string) => readFileSync(path.join(fixtures, 'audio', name));

interface Case {
  model: string;
  file?: string;
  parameters: Record<string, unknown>;
  output: unknown;
}
const golden = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'audio.json'), 'utf8')) as {
  asr: Case[];
  audio_classification: Case[];
};
const find = (cases: Case[], model: string, file: string, parameters: Record<string, unknown> = {}) => {
  const c = cases.find(
    (x) =>
      x.model === model && x.file === file && JSON.stringify(x.parameters) === JSON.stringify(parameters),
  );
  if (c === undefined) throw new Error(`no golden for ${model} ${file}`);
  return c.output;
};

let srv: TestServer;

test.before(async () => {
  srv = await startTestServer({
    bodyLimit: 64 * 1024,
    models: [
      { id: 'test/ctc', path: fixtureModel('wav2vec2-ctc-tiny'), tasks: [] },
      { id: 'test/cls', path: fixtureModel('wav2vec2-audio-cls-tiny'), tasks: [] },
    ],
  });
});

test.after.always(async () => {
  await srv?.close();
});

function closeScores(t: import('ava').ExecutionContext, got: unknown, want: unknown): void {
  const g = got as Array<{ label: string; score: number }>;
  const w = want as Array<{ label: string; score: number }>;
  t.deepEqual(
    g.map((x) => x.label),
    w.map((x) => x.label),
  );
  g.forEach((x, i) => {
    t.true(Math.abs(x.score - (w[i]?.score ?? Number.NaN)) < 1e-4);
  });
}

test('a raw audio body runs the task the config implies, equal to the reference', async (t) => {
  for (const type of ['audio/wav', 'audio/x-wav', 'application/octet-stream']) {
    const res = await post(`${srv.url}/models/test/ctc`, clip('tone-16k-s16.wav'), { 'content-type': type });
    t.is(res.status, 200, res.text);
    t.deepEqual(res.body, find(golden.asr, 'wav2vec2-ctc-tiny', 'tone-16k-s16.wav'));
  }
  const res = await post(`${srv.url}/models/test/cls`, clip('tone-16k.flac'), {
    'content-type': 'audio/flac',
  });
  t.is(res.status, 200, res.text);
  closeScores(t, res.body, find(golden.audio_classification, 'wav2vec2-audio-cls-tiny', 'tone-16k.flac'));
});

test('JSON with base64 inputs and parameters', async (t) => {
  const b64 = clip('tone-16k-s16.wav').toString('base64');
  const res = await post(`${srv.url}/models/test/ctc`, {
    inputs: b64,
    parameters: { return_timestamps: 'word' },
  });
  t.is(res.status, 200, res.text);
  t.deepEqual(
    res.body,
    find(golden.asr, 'wav2vec2-ctc-tiny', 'tone-16k-s16.wav', { return_timestamps: 'word' }),
  );
  const cls = await post(`${srv.url}/pipeline/audio-classification/test/cls`, {
    inputs: `data:audio/wav;base64,${b64}`,
    parameters: { top_k: 2 },
  });
  t.is(cls.status, 200, cls.text);
  closeScores(
    t,
    cls.body,
    find(golden.audio_classification, 'wav2vec2-audio-cls-tiny', 'tone-16k-s16.wav', { top_k: 2 }),
  );
});

test('bad audio is a 400, oversized bodies and audio a 413, and the server keeps serving', async (t) => {
  const bad = await post(`${srv.url}/models/test/ctc`, clip('not-audio.txt'), {
    'content-type': 'audio/wav',
  });
  t.is(bad.status, 400, bad.text);
  t.regex(JSON.stringify(bad.body), /format/);
  const truncated = await post(`${srv.url}/models/test/ctc`, clip('truncated-header.wav'), {
    'content-type': 'audio/wav',
  });
  t.is(truncated.status, 400, truncated.text);
  const noRate = await post(`${srv.url}/models/test/cls`, { inputs: { raw: [0, 0.1, 0.2] } });
  t.is(noRate.status, 400, noRate.text);
  t.regex(JSON.stringify(noRate.body), /sampling_rate/);
  const path = await post(`${srv.url}/models/test/cls`, { inputs: '/etc/passwd' });
  t.is(path.status, 400, path.text);
  const big = await post(`${srv.url}/models/test/ctc`, Buffer.alloc(80 * 1024, 1), {
    'content-type': 'audio/wav',
  });
  t.is(big.status, 413, big.text);
  const short = await post(`${srv.url}/models/test/cls`, {
    inputs: { raw: [0.1], sampling_rate: 16000 },
    parameters: {},
  });
  t.is(short.status, 400, short.text);
  t.regex(JSON.stringify(short.body), /audio too short/);
  const ok = await post(`${srv.url}/models/test/ctc`, clip('tone-16k-s16.wav'), {
    'content-type': 'audio/wav',
  });
  t.is(ok.status, 200);
});

test('the audio duration limit of the server (maxAudioSeconds) answers 413 and keeps serving', async (t) => {
  const small = await startTestServer({
    maxAudioSeconds: 0.25,
    models: [{ id: 'test/ctc', path: fixtureModel('wav2vec2-ctc-tiny'), tasks: [] }],
  });
  try {
    // tone-16k-s16.wav lasts 0.5 s
    const long = await post(`${small.url}/models/test/ctc`, clip('tone-16k-s16.wav'), {
      'content-type': 'audio/wav',
    });
    t.is(long.status, 413, long.text);
    t.regex(JSON.stringify(long.body), /0\.25/);
    const raw = await post(`${small.url}/models/test/ctc`, {
      inputs: { raw: new Array(8000).fill(0.1), sampling_rate: 16000 },
    });
    t.is(raw.status, 413, raw.text);
    const ok = await post(`${small.url}/models/test/ctc`, {
      inputs: { raw: new Array(3200).fill(0.1), sampling_rate: 16000 },
    });
    t.is(ok.status, 200, ok.text);
  } finally {
    await small.close();
  }
});

test('audio over the duration or byte limit maps to 413', (t) => {
  for (const code of ['ERR_AUDIO_TOO_LONG', 'ERR_AUDIO_TOO_LARGE']) {
    t.is(mapError(new InvalidInputError(code, 'over the limit')).status, 413, code);
  }
  t.is(mapError(new InvalidInputError('ERR_AUDIO_CORRUPT', 'bad')).status, 400);
});

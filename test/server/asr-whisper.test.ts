/**
 * Whisper speech recognition through the HTTP server: the decoder opens on the generation
 * engine with its encoder beside it; raw audio bodies and JSON bodies with parameters answer
 * the reference's text (test/fixtures/goldens/whisper.json), segment timestamps included, and
 * long-form input; bad parameters are 400s.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { fixtureModel, post, startTestServer, type TestServer } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures');

interface Case {
  variant: string;
  clip: string;
  parameters: Record<string, unknown>;
  output?: { text: string; chunks?: unknown[] };
  error?: string;
}

const golden = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'whisper.json'), 'utf8')) as {
  cases: Case[];
};

function find(parameters: Record<string, unknown>): Case {
  const c = golden.cases.find(
    (x) =>
      x.variant === 'multilingual' &&
      x.clip === 'tone-16k-s16.wav' &&
      JSON.stringify(x.parameters) === JSON.stringify(parameters),
  );
  if (c === undefined) throw new Error(`no golden for ${JSON.stringify(parameters)}`);
  return c;
}

const clip = readFileSync(path.join(fixtures, 'audio', 'tone-16k-s16.wav'));

let srv: TestServer;

test.before(async () => {
  srv = await startTestServer({
    bodyLimit: 256 * 1024,
    models: [{ id: 'test/whisper', path: fixtureModel('whisper-tiny-random'), tasks: [] }],
  });
});

test.after.always(async () => {
  await srv?.close();
});

test.serial('a raw WAV body transcribes as the reference pipeline (beam search by default)', async (t) => {
  const res = await post(`${srv.url}/models/test/whisper`, clip, { 'content-type': 'audio/wav' });
  t.is(res.status, 200, res.text);
  t.deepEqual(res.body, find({}).output);
});

test.serial('a JSON body with generation parameters', async (t) => {
  const parameters = { max_new_tokens: 5 };
  const res = await post(`${srv.url}/models/test/whisper`, { inputs: clip.toString('base64'), parameters });
  t.is(res.status, 200, res.text);
  t.deepEqual(res.body, find(parameters).output);
});

test.serial('an unsupported language is a 400 with the reference message', async (t) => {
  const parameters = { language: 'it' };
  const res = await post(`${srv.url}/models/test/whisper`, { inputs: clip.toString('base64'), parameters });
  t.is(res.status, 400, res.text);
  t.is((res.body as { error: string }).error, find(parameters).error ?? '');
});

test.serial('segment timestamps over HTTP equal the reference chunks', async (t) => {
  const parameters = { return_timestamps: true, num_beams: 1 };
  const res = await post(`${srv.url}/models/test/whisper`, { inputs: clip.toString('base64'), parameters });
  t.is(res.status, 200, res.text);
  t.deepEqual(res.body, find(parameters).output);
  t.true(((res.body as { chunks?: unknown[] }).chunks ?? []).length > 1);
});

test.serial('long-form audio (over 30 s) and word timestamps: answers and 400s', async (t) => {
  // The clip's PCM frames repeated 66 times (33 s), as the goldens script builds it.
  const at = clip.indexOf('data');
  const frames = clip.subarray(at + 8, at + 8 + clip.readUInt32LE(at + 4));
  const body = Buffer.concat(Array.from({ length: 66 }, () => frames));
  const header = Buffer.from(clip.subarray(0, at + 8));
  header.writeUInt32LE(header.length - 8 + body.length, 4);
  header.writeUInt32LE(body.length, at + 4);
  const wav = Buffer.concat([header, body]);
  const long = golden.cases.find(
    (x) =>
      x.variant === 'multilingual' &&
      x.clip === 'tone-16k-s16.wav*66' &&
      JSON.stringify(x.parameters) === JSON.stringify({ return_timestamps: true, num_beams: 1 }),
  );
  if (long?.output === undefined) throw new Error('no long-form golden');
  const big = await startTestServer({
    bodyLimit: 2 * 1024 * 1024,
    models: [{ id: 'test/whisper', path: fixtureModel('whisper-tiny-random'), tasks: [] }],
  });
  try {
    const url = `${big.url}/models/test/whisper`;
    const ok = await post(url, {
      inputs: wav.toString('base64'),
      parameters: { return_timestamps: true, num_beams: 1 },
    });
    t.is(ok.status, 200, ok.text);
    t.deepEqual(ok.body, long.output);
    const word = await post(url, {
      inputs: clip.toString('base64'),
      parameters: { return_timestamps: 'word' },
    });
    t.is(word.status, 400, word.text);
    t.regex(word.text, /cross-attention/);
  } finally {
    await big.close();
  }
});

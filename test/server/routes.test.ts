/**
 * Every route over real HTTP on loopback, against the tiny fixture models. Outputs are
 * checked against the Python reference goldens where they exist, and otherwise against the
 * library's own pipeline on the same model (the server must add nothing but the wire format).
 */
import test from 'ava';
import { pipeline } from '../../ts/pipeline.js';
import { Tokenizer } from '../../ts/tokenizer.js';
import { assertGolden, loadGoldens } from '../tasks/goldens.js';
import { fixtureModel, get, metricValue, post, startTestServer, type TestServer } from './helpers.js';

let srv: TestServer;

type Pipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };
const pipes: Pipe[] = [];
async function libraryPipe(task: string, fixture: string): Promise<Pipe> {
  const p = (await (pipeline as (t: string, m: string) => Promise<unknown>)(
    task,
    fixtureModel(fixture),
  )) as Pipe;
  pipes.push(p);
  return p;
}

test.before(async () => {
  srv = await startTestServer();
});

test.after.always(async () => {
  await srv?.close();
  for (const p of pipes) await p.dispose();
});

const SARAH = 'My name is Sarah Jessica Parker but you can call me Jessica';

test('token classification: the seed request returns the reference entities and the API headers', async (t) => {
  const golden = loadGoldens('token-classification').cases.find((c) => c.id === 'bert-ner/sarah/default');
  t.truthy(golden);
  const res = await post(`${srv.url}/models/test/bert-ner`, { inputs: SARAH });
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^application\/json/);
  assertGolden(t, res.body, golden?.output);
  const entities = res.body as Array<Record<string, unknown>>;
  t.true(entities.length > 0);
  for (const e of entities)
    t.deepEqual(Object.keys(e).sort(), ['end', 'entity_group', 'score', 'start', 'word']);
  t.regex(String(res.headers['x-compute-time']), /^\d+\.\d{3}$/);
  t.is(res.headers['x-compute-type'], 'cpu');
  t.is(res.headers['x-compute-characters'], String([...SARAH].length));
});

test('token classification: every reference golden of the served model matches over HTTP', async (t) => {
  const cases = loadGoldens('token-classification').cases.filter((c) => c.model === 'bert-ner');
  t.true(cases.length > 10);
  let compared = 0;
  for (const c of cases) {
    const res = await post(`${srv.url}/models/test/bert-ner`, {
      inputs: c.inputs,
      parameters: c.parameters ?? {},
    });
    if (c.error) {
      t.is(res.status, 400, c.id);
      t.is(
        typeof (res.body as { error: unknown }).error === 'string' ||
          Array.isArray((res.body as { error: unknown }).error),
        true,
        c.id,
      );
    } else {
      t.is(res.status, 200, `${c.id}: ${res.text}`);
      assertGolden(t, res.body, c.output);
    }
    compared++;
  }
  t.is(compared, cases.length);
});

test('characters count code points: astral characters count once', async (t) => {
  const text = '😀 John Smith works at Google in London.';
  const res = await post(`${srv.url}/models/test/bert-ner`, { inputs: text });
  t.is(res.status, 200);
  t.is(res.headers['x-compute-characters'], String([...text].length));
  t.not(res.headers['x-compute-characters'], String(text.length));
});

test('a raw text body, text/plain or without a content type, is the input', async (t) => {
  const json = await post(`${srv.url}/models/test/bert-ner`, { inputs: SARAH });
  const plain = await post(`${srv.url}/models/test/bert-ner`, SARAH, { 'content-type': 'text/plain' });
  const bare = await post(`${srv.url}/models/test/bert-ner`, SARAH);
  t.is(plain.status, 200);
  t.is(bare.status, 200);
  t.deepEqual(plain.body, json.body);
  t.deepEqual(bare.body, json.body);
});

test('a JSON number body is classified as its string', async (t) => {
  const num = await post(`${srv.url}/models/test/bert-sentiment`, '42', {
    'content-type': 'application/json',
  });
  const str = await post(`${srv.url}/models/test/bert-sentiment`, { inputs: '42' });
  t.is(num.status, 200);
  t.deepEqual(num.body, str.body);
});

test('text classification on the wire: one input gives [[{label, score}, ...]] with every label', async (t) => {
  const pipe = await libraryPipe('text-classification', 'bert-sentiment');
  const expected = await pipe('I love this movie!');
  const res = await post(`${srv.url}/models/test/bert-sentiment`, { inputs: 'I love this movie!' });
  t.is(res.status, 200);
  t.deepEqual(res.body, [expected]);
  const inner = (res.body as Array<Array<{ label: string; score: number }>>)[0] ?? [];
  t.true(inner.length >= 2);
  for (let i = 1; i < inner.length; i++) t.true((inner[i - 1]?.score ?? 0) >= (inner[i]?.score ?? 0));
  const top1 = await post(`${srv.url}/models/test/bert-sentiment`, {
    inputs: 'I love this movie!',
    parameters: { top_k: 1 },
  });
  t.deepEqual(top1.body, [[inner[0]]]);
});

test('text classification of a list keeps one label list per input', async (t) => {
  const pipe = await libraryPipe('text-classification', 'bert-sentiment');
  const inputs = ['great', 'awful'];
  const res = await post(`${srv.url}/models/test/bert-sentiment`, { inputs });
  t.is(res.status, 200);
  t.deepEqual(res.body, await pipe(inputs));
});

test('sentence similarity: the seed request returns one score per sentence', async (t) => {
  const inputs = {
    source_sentence: 'That is a happy person',
    sentences: ['That is a happy dog', 'That is a very happy person', 'Today is a sunny day'],
  };
  const pipe = await libraryPipe('sentence-similarity', 'st-encoder');
  const expected = (await pipe(inputs)) as number[];
  const res = await post(`${srv.url}/models/test/st-encoder`, { inputs });
  t.is(res.status, 200);
  const scores = res.body as number[];
  t.is(scores.length, 3);
  for (let i = 0; i < 3; i++) {
    t.true(Math.abs((scores[i] ?? 9) - (expected[i] ?? 0)) < 1e-6);
    t.true(Math.abs(scores[i] ?? 9) <= 1 + 1e-6);
  }
});

test('/pipeline/feature-extraction on a sentence-similarity model returns the embedding', async (t) => {
  const pipe = await libraryPipe('feature-extraction', 'st-encoder');
  const expected = (await pipe('hello world')) as number[];
  const res = await post(`${srv.url}/pipeline/feature-extraction/test/st-encoder`, { inputs: 'hello world' });
  t.is(res.status, 200);
  t.deepEqual(res.body, expected);
  t.true(typeof (res.body as unknown[])[0] === 'number');
  const byModel = await post(`${srv.url}/models/test/st-encoder`, { inputs: 'hello world' });
  t.deepEqual(byModel.body, expected, 'a string input to an embedding model is feature extraction');
});

test('/pipeline: unknown and unserved tasks are 400', async (t) => {
  const unknown = await post(`${srv.url}/pipeline/no-such-task/test/bert-ner`, { inputs: 'x' });
  t.is(unknown.status, 400);
  const unserved = await post(`${srv.url}/pipeline/fill-mask/test/bert-ner`, { inputs: 'x' });
  t.is(unserved.status, 400);
  t.regex(String((unserved.body as { error: string }).error), /does not serve fill-mask/);
  const alias = await post(`${srv.url}/pipeline/ner/test/bert-ner`, { inputs: SARAH });
  t.is(alias.status, 200);
});

test('404 for a model the server does not serve', async (t) => {
  const res = await post(`${srv.url}/models/nobody/nothing`, { inputs: 'x' });
  t.is(res.status, 404);
  t.deepEqual(res.body, { error: 'Model nobody/nothing does not exist' });
});

test('400 with a list of messages for parameter-schema violations', async (t) => {
  const res = await post(`${srv.url}/models/test/bert-sentiment`, {
    inputs: 'x',
    parameters: { top_k: '3' },
  });
  t.is(res.status, 400);
  const err = (res.body as { error: unknown }).error;
  t.true(Array.isArray(err));
  t.regex(String((err as string[])[0]), /received `top_k` in `parameters`$/);
});

test('400 with a message for bad input; warnings only on object bodies', async (t) => {
  const noLabels = await post(`${srv.url}/models/test/bert-nli`, { inputs: 'x', options: { turbo: true } });
  t.is(noLabels.status, 400);
  t.is(
    typeof (noLabels.body as { error: unknown }).error === 'string' ||
      Array.isArray((noLabels.body as { error: unknown }).error),
    true,
  );
  t.deepEqual((noLabels.body as { warnings: unknown }).warnings, ['unknown option `turbo` was ignored']);

  const zeroShot = await post(`${srv.url}/models/test/bert-nli`, {
    inputs: 'I want to book a flight',
    parameters: { candidate_labels: ['travel', 'cooking'] },
    options: { turbo: true },
  });
  t.is(zeroShot.status, 200);
  const body = zeroShot.body as Record<string, unknown>;
  t.deepEqual(Object.keys(body).sort(), ['labels', 'scores', 'sequence', 'warnings']);
  t.deepEqual(body.warnings, ['unknown option `turbo` was ignored']);

  const arrayOut = await post(`${srv.url}/models/test/bert-ner`, { inputs: SARAH, options: { turbo: true } });
  t.is(arrayOut.status, 200);
  t.true(Array.isArray(arrayOut.body), 'an array output carries no warnings');
});

test('TEI /embed: always [n][dim], normalised by default', async (t) => {
  const pipe = await libraryPipe('feature-extraction', 'st-encoder');
  const one = await post(`${srv.url}/embed`, { inputs: 'hello world' });
  t.is(one.status, 200);
  const vectors = one.body as number[][];
  t.is(vectors.length, 1);
  const expected = (await pipe('hello world', { normalize: true })) as number[];
  t.deepEqual(vectors[0], expected);
  const norm = Math.hypot(...(vectors[0] ?? []));
  t.true(Math.abs(norm - 1) < 1e-5);
  const two = await post(`${srv.url}/embed`, { inputs: ['hello world', 'bye'] });
  t.is((two.body as number[][]).length, 2);
  t.deepEqual((two.body as number[][])[0], expected);
  const bad = await post(`${srv.url}/embed`, { inputs: 3 });
  t.is(bad.status, 400);
  t.is((bad.body as { error_type: string }).error_type, 'Validation');
});

test('TEI /embed: an input over the model limit is 413 unless truncate is set; 400 on the Inference API route', async (t) => {
  const long = Array.from({ length: 600 }, (_, i) => `word${i}`).join(' ');
  const tei = await post(`${srv.url}/embed`, { inputs: long });
  t.is(tei.status, 413, 'TEI does not truncate by default');
  t.is((tei.body as { error_type: string }).error_type, 'Validation');
  t.regex(
    (tei.body as { error: string }).error,
    /^Input validation error: `inputs` must have less than \d+ tokens\. Given: \d+$/,
  );
  const truncated = await post(`${srv.url}/embed`, { inputs: long, truncate: true });
  t.is(truncated.status, 200);
  const api = await post(`${srv.url}/pipeline/feature-extraction/test/st-encoder`, {
    inputs: long,
    parameters: { truncate: false },
  });
  t.is(api.status, 400);
});

test('TEI /similarity equals the Inference API sentence-similarity answer', async (t) => {
  const inputs = { source_sentence: 'a cat', sentences: ['a dog', 'a kitten', 'stock markets'] };
  const tei = await post(`${srv.url}/similarity`, { inputs });
  const api = await post(`${srv.url}/models/test/st-encoder`, { inputs });
  t.is(tei.status, 200);
  t.deepEqual(tei.body, api.body);
  const bad = await post(`${srv.url}/similarity`, { inputs: 'x' });
  t.is(bad.status, 400);
});

test('TEI /rerank: cross-encoder scores of (query, text), sorted descending', async (t) => {
  const pipe = await libraryPipe('text-classification', 'bert-cross-encoder');
  const query = 'What is deep learning?';
  const texts = ['Deep learning is a kind of machine learning.', 'Paris is in France.', 'I like soup.'];
  const expected = (await pipe(texts.map((text) => ({ text: query, text_pair: text })))) as Array<
    Array<{ score: number }>
  >;
  const res = await post(`${srv.url}/rerank`, {
    query,
    texts,
    return_text: true,
    model: 'test/bert-cross-encoder',
  });
  t.is(res.status, 200);
  const ranks = res.body as Array<{ index: number; score: number; text: string }>;
  t.deepEqual(ranks.map((r) => r.index).sort(), [0, 1, 2]);
  for (const r of ranks) {
    t.is(r.score, expected[r.index]?.[0]?.score ?? Number.NaN);
    t.is(r.text, texts[r.index] ?? '');
  }
  for (let i = 1; i < ranks.length; i++) t.true((ranks[i - 1]?.score ?? 0) >= (ranks[i]?.score ?? 0));
  const raw = await post(`${srv.url}/rerank`, {
    query,
    texts,
    raw_scores: true,
    model: 'test/bert-cross-encoder',
  });
  const rawExpected = (await pipe(
    texts.map((text) => ({ text: query, text_pair: text })),
    { function_to_apply: 'none' },
  )) as Array<Array<{ score: number }>>;
  for (const r of raw.body as Array<{ index: number; score: number; text?: string }>) {
    t.is(r.score, rawExpected[r.index]?.[0]?.score ?? Number.NaN);
    t.false('text' in r);
  }
});

test('TEI /rerank on a multi-label classifier is a 400', async (t) => {
  const res = await post(`${srv.url}/rerank`, { query: 'q', texts: ['a'], model: 'test/bert-sentiment' });
  t.is(res.status, 400);
  t.regex((res.body as { error: string }).error, /not a re-ranker/);
});

test('TEI /predict: single, pair and batch inputs', async (t) => {
  const pipe = await libraryPipe('text-classification', 'bert-sentiment');
  const single = await post(`${srv.url}/predict`, { inputs: 'I love it', model: 'test/bert-sentiment' });
  t.is(single.status, 200);
  t.deepEqual(single.body, await pipe('I love it'));
  const pair = await post(`${srv.url}/predict`, {
    inputs: ['I love it', 'me too'],
    model: 'test/bert-sentiment',
  });
  t.deepEqual(pair.body, await pipe({ text: 'I love it', text_pair: 'me too' }));
  const batch = await post(`${srv.url}/predict`, {
    inputs: [['I love it'], ['a', 'b']],
    model: 'test/bert-sentiment',
  });
  t.deepEqual(batch.body, await pipe(['I love it', { text: 'a', text_pair: 'b' }]));
  const bad = await post(`${srv.url}/predict`, { inputs: [['a', 'b', 'c']], model: 'test/bert-sentiment' });
  t.is(bad.status, 400);
});

test('TEI /tokenize: ids, token texts and code-point offsets', async (t) => {
  const tok = Tokenizer.fromFile(fixtureModel('bert-ner'));
  const text = '😀 Hello world';
  const res = await post(`${srv.url}/tokenize`, { inputs: text, model: 'test/bert-ner' });
  t.is(res.status, 200);
  const [tokens] = res.body as Array<
    Array<{ id: number; text: string; special: boolean; start: number | null; stop: number | null }>
  >;
  t.truthy(tokens);
  const enc = await tok.encodeBatch([text], { addSpecialTokens: true });
  t.deepEqual(
    tokens?.map((x) => x.id),
    Array.from(enc.inputIds, Number),
  );
  t.true(tokens?.[0]?.special);
  t.is(tokens?.[0]?.start, null);
  const cps = [...text];
  for (const tk of tokens ?? []) {
    if (tk.special) continue;
    t.is(tk.text, cps.slice(tk.start ?? 0, tk.stop ?? 0).join(''));
  }
  const plain = await post(`${srv.url}/tokenize`, {
    inputs: [text],
    add_special_tokens: false,
    model: 'test/bert-ner',
  });
  const [noSpecial] = plain.body as Array<Array<{ special: boolean }>>;
  t.is(noSpecial?.length, (tokens?.length ?? 0) - 2);
});

test('OpenAI /v1/embeddings: float and base64, usage tokens', async (t) => {
  const embed = await post(`${srv.url}/embed`, { inputs: ['hello world', 'bye'] });
  const res = await post(`${srv.url}/v1/embeddings`, {
    input: ['hello world', 'bye'],
    model: 'test/st-encoder',
  });
  t.is(res.status, 200);
  const body = res.body as {
    object: string;
    model: string;
    data: Array<{ object: string; index: number; embedding: number[] }>;
    usage: { prompt_tokens: number; total_tokens: number };
  };
  t.is(body.object, 'list');
  t.is(body.model, 'test/st-encoder');
  t.deepEqual(
    body.data.map((d) => d.embedding),
    embed.body,
  );
  t.deepEqual(
    body.data.map((d) => [d.object, d.index]),
    [
      ['embedding', 0],
      ['embedding', 1],
    ],
  );
  const tok = Tokenizer.fromFile(fixtureModel('st-encoder'));
  let tokens = 0;
  for (const s of ['hello world', 'bye'])
    tokens += (await tok.encodeBatch([s], { addSpecialTokens: true })).inputIds.length;
  t.is(body.usage.prompt_tokens, tokens);
  t.is(body.usage.total_tokens, tokens);

  const b64 = await post(`${srv.url}/v1/embeddings`, { input: 'hello world', encoding_format: 'base64' });
  const item = (b64.body as { data: Array<{ embedding: string }> }).data[0];
  const bytes = Buffer.from(item?.embedding ?? '', 'base64');
  const floats = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
  t.deepEqual(floats, Array.from(Float32Array.from((embed.body as number[][])[0] ?? [])));

  const missing = await post(`${srv.url}/v1/embeddings`, { input: 'x', model: 'nobody/nothing' });
  t.is(missing.status, 404);
  t.is((missing.body as { error: { code: string } }).error.code, 'model_not_found');
  const bad = await post(`${srv.url}/v1/embeddings`, { input: [] });
  t.is(bad.status, 400);
  t.is((bad.body as { error: { type: string } }).error.type, 'invalid_request_error');
});

test('GET /health, /models and /metrics', async (t) => {
  const health = await get(`${srv.url}/health`);
  t.is(health.status, 200);
  t.is((health.body as { status: string }).status, 'ok');
  const models = await get(`${srv.url}/models`);
  t.is(models.status, 200);
  const list = models.body as Array<{ id: string; tasks: string[] }>;
  t.deepEqual(list.find((m) => m.id === 'test/st-encoder')?.tasks, [
    'feature-extraction',
    'sentence-similarity',
  ]);
  await post(`${srv.url}/models/test/bert-ner`, { inputs: 'metrics please' });
  await post(`${srv.url}/models/nobody/nothing`, { inputs: 'x' });
  const metrics = await get(`${srv.url}/metrics`);
  t.is(metrics.status, 200);
  t.regex(String(metrics.headers['content-type']), /^text\/plain/);
  t.true(
    metricValue(metrics.text, 'hf_tasks_http_requests_total', { model: 'test/bert-ner', status: '200' }) >= 1,
  );
  t.true(metricValue(metrics.text, 'hf_tasks_http_requests_total', { status: '404' }) >= 1);
  t.true(
    metricValue(metrics.text, 'hf_tasks_http_request_duration_seconds_count', { model: 'test/bert-ner' }) >=
      1,
  );
  t.true(
    metricValue(metrics.text, 'hf_tasks_inference_duration_seconds_count', { model: 'test/bert-ner' }) >= 1,
  );
  t.true(metricValue(metrics.text, 'hf_tasks_batch_size_count', { model: 'test/bert-ner' }) >= 1);
  t.true(metricValue(metrics.text, 'hf_tasks_input_tokens_total', { model: 'test/bert-ner' }) >= 1);
  t.true(metricValue(metrics.text, 'hf_tasks_engine_calls', { model: 'test/bert-ner' }) >= 1);
  t.regex(metrics.text, /^hf_tasks_queue_depth\{model="test\/bert-ner"\} \d+$/m);
  t.true(metricValue(metrics.text, 'process_resident_memory_bytes') > 0);
});

test('unknown routes are 404 JSON', async (t) => {
  const res = await get(`${srv.url}/nope`);
  t.is(res.status, 404);
  t.truthy((res.body as { error: string }).error);
});

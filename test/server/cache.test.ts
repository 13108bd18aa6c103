/**
 * The result cache: on by default, bypassed with `options.use_cache: false` or
 * `x-use-cache: false`, keyed on the whole request, bounded (LRU).
 */
import test from 'ava';
import { canonicalJson, ResultCache } from '../../ts/server/cache.js';
import { get, metricValue, post, request, startTestServer, type TestServer } from './helpers.js';

let srv: TestServer;

test.before(async () => {
  srv = await startTestServer();
});

test.after.always(async () => {
  await srv?.close();
});

async function inferences(s: TestServer, model: string): Promise<number> {
  const m = await get(`${s.url}/metrics`);
  return metricValue(m.text, 'hf_tasks_inference_duration_seconds_count', { model });
}

const url = () => `${srv.url}/models/test/bert-ner`;

test.serial('a repeated request is answered from the cache without running the model', async (t) => {
  const before = await inferences(srv, 'test/bert-ner');
  const body = { inputs: 'Alice met Bob in Paris (cache test 1).' };
  const first = await post(url(), body);
  const second = await post(url(), body);
  t.is(first.status, 200);
  t.is(second.status, 200);
  t.is(first.headers['x-cache'], 'miss');
  t.is(second.headers['x-cache'], 'hit');
  t.is(second.text, first.text);
  t.is(second.headers['x-compute-characters'], first.headers['x-compute-characters']);
  t.regex(String(second.headers['x-compute-time']), /^\d+\.\d{3}$/);
  t.is(await inferences(srv, 'test/bert-ner'), before + 1);
  const m = await get(`${srv.url}/metrics`);
  t.true(metricValue(m.text, 'hf_tasks_cache_lookups_total', { result: 'hit' }) >= 1);
});

test.serial('use_cache false in options or the x-use-cache header recomputes', async (t) => {
  const body = { inputs: 'Alice met Bob in Paris (cache test 2).' };
  await post(url(), body);
  const before = await inferences(srv, 'test/bert-ner');
  const opt = await post(url(), { ...body, options: { use_cache: false } });
  t.is(opt.status, 200);
  t.is(opt.headers['x-cache'], undefined);
  const hdr = await post(url(), body, { 'x-use-cache': 'false' });
  t.is(hdr.status, 200);
  t.is(hdr.headers['x-cache'], undefined);
  t.is(await inferences(srv, 'test/bert-ner'), before + 2);
  t.deepEqual(opt.body, hdr.body);
  const again = await post(url(), body);
  t.is(again.headers['x-cache'], 'hit', 'bypassing requests do not evict the cached answer');
});

test.serial('parameters are part of the key', async (t) => {
  const text = 'Alice met Bob in Paris (cache test 3).';
  const simple = await post(url(), { inputs: text });
  const none = await post(url(), { inputs: text, parameters: { aggregation_strategy: 'none' } });
  t.is(simple.headers['x-cache'], 'miss');
  t.is(none.headers['x-cache'], 'miss');
  t.notDeepEqual(simple.body, none.body);
});

test.serial('errors are not cached', async (t) => {
  const body = { inputs: 'x', parameters: { aggregation_strategy: 'nope' } };
  const a = await post(url(), body);
  const b = await post(url(), body);
  t.is(a.status, 400);
  t.is(b.status, 400);
  t.is(b.headers['x-cache'], undefined);
});

test('the cache is bounded: the least recently used answer is evicted', async (t) => {
  const small = await startTestServer({ cache: { maxEntries: 2 } });
  try {
    const u = `${small.url}/models/test/bert-ner`;
    for (const s of ['one', 'two', 'three']) t.is((await post(u, { inputs: s })).headers['x-cache'], 'miss');
    t.is((await post(u, { inputs: 'three' })).headers['x-cache'], 'hit');
    t.is((await post(u, { inputs: 'one' })).headers['x-cache'], 'miss');
  } finally {
    await small.close();
  }
});

test('with the cache off every request runs the model', async (t) => {
  const off = await startTestServer({ cache: { maxEntries: 0 } });
  try {
    const u = `${off.url}/models/test/bert-ner`;
    const before = await inferences(off, 'test/bert-ner');
    const a = await post(u, { inputs: 'same' });
    const b = await post(u, { inputs: 'same' });
    t.is(a.headers['x-cache'], undefined);
    t.deepEqual(a.body, b.body);
    t.is(await inferences(off, 'test/bert-ner'), before + 2);
  } finally {
    await off.close();
  }
});

test.serial(
  'the key covers the whole body: /v1/embeddings encoding_format gets its own answer',
  async (t) => {
    const u = `${srv.url}/v1/embeddings`;
    const input = 'a sentence to embed (cache test 4)';
    const float = await post(u, { input, encoding_format: 'float' });
    const b64 = await post(u, { input, encoding_format: 'base64' });
    const floatAgain = await post(u, { input, encoding_format: 'float' });
    t.is(float.status, 200);
    t.is(b64.status, 200);
    t.is(b64.headers['x-cache'], 'miss', 'a base64 request is not answered with the float body');
    t.is(floatAgain.headers['x-cache'], 'hit');
    type Data = { data: Array<{ embedding: unknown }> };
    const vector = (float.body as Data).data[0]?.embedding as number[];
    const encoded = (b64.body as Data).data[0]?.embedding;
    t.true(Array.isArray(vector));
    t.is(typeof encoded, 'string');
    const bytes = Buffer.from(encoded as string, 'base64');
    const decoded = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    t.is(decoded.length, vector.length);
    t.true(decoded.every((x, i) => Math.abs(x - (vector[i] ?? Number.NaN)) < 1e-6));
    // And the other way round: a float request after a cached base64 one gets floats.
    const input2 = 'another sentence (cache test 5)';
    t.is((await post(u, { input: input2, encoding_format: 'base64' })).headers['x-cache'], 'miss');
    const f2 = await post(u, { input: input2 });
    t.is(f2.headers['x-cache'], 'miss');
    t.true(Array.isArray((f2.body as Data).data[0]?.embedding));
  },
);

test.serial('the key covers the whole body: /rerank return_text gets its own answer', async (t) => {
  const u = `${srv.url}/rerank`;
  const req = {
    model: 'test/bert-cross-encoder',
    query: 'what is a panda?',
    texts: ['A panda is a bear.', 'Paris is in France.'],
  };
  const plain = await post(u, req);
  const withText = await post(u, { ...req, return_text: true });
  t.is(plain.status, 200);
  t.is(withText.status, 200);
  t.is(withText.headers['x-cache'], 'miss');
  type Rank = { index: number; score: number; text?: string };
  t.true((withText.body as Rank[]).every((r) => r.text === req.texts[r.index]));
  t.true((plain.body as Rank[]).every((r) => !('text' in r)));
  const plainAgain = await post(u, req);
  t.is(plainAgain.headers['x-cache'], 'hit');
  t.true((plainAgain.body as Rank[]).every((r) => !('text' in r)));
  t.deepEqual(
    (withText.body as Rank[]).map((r) => [r.index, r.score]),
    (plain.body as Rank[]).map((r) => [r.index, r.score]),
  );
});

test.serial('the key covers top-level feature-extraction options and ignores key order', async (t) => {
  const u = `${srv.url}/pipeline/feature-extraction/test/st-encoder`;
  const inputs = 'normalise me (cache test 6)';
  const raw = await post(u, { inputs, normalize: false });
  const unit = await post(u, { inputs, normalize: true });
  t.is(unit.headers['x-cache'], 'miss');
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  t.true(Math.abs(norm(unit.body as number[]) - 1) < 1e-5);
  t.false(Math.abs(norm(raw.body as number[]) - 1) < 1e-3);
  const reordered = await request('POST', u, `{"normalize": false, "inputs": ${JSON.stringify(inputs)}}`, {
    'content-type': 'application/json',
  });
  t.is(reordered.headers['x-cache'], 'hit');
  t.deepEqual(reordered.body, raw.body);
});

test('canonicalJson sorts keys at every level and keeps arrays in order', (t) => {
  t.is(
    canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }),
    '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
  );
  t.is(canonicalJson({ a: undefined, b: 'x' }), JSON.stringify({ b: 'x' }));
  t.is(canonicalJson('s\u00e9'), JSON.stringify('s\u00e9'));
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.notThrows(() => canonicalJson(deep));
  t.not(ResultCache.key('r', 'm', 't', { a: 1 }), ResultCache.key('r', 'm', 't', { a: 2 }));
  t.is(ResultCache.key('r', 'm', 't', { a: 1, b: 2 }), ResultCache.key('r', 'm', 't', { b: 2, a: 1 }));
});

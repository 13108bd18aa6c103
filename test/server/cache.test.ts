/**
 * The result cache: on by default, bypassed with `options.use_cache: false` or
 * `x-use-cache: false`, keyed on the whole request, bounded (LRU).
 */
import test from 'ava';
import { get, metricValue, post, startTestServer, type TestServer } from './helpers.js';

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

/**
 * Hostile input: each request gets a 4xx with a JSON error, and the server keeps serving.
 */
import test from 'ava';
import { post, request, startTestServer, type TestServer } from './helpers.js';

let srv: TestServer;

test.before(async () => {
  srv = await startTestServer();
});

test.after.always(async () => {
  await srv?.close();
});

async function stillServing(t: import('ava').ExecutionContext): Promise<void> {
  const health = await request('GET', `${srv.url}/health`);
  t.is(health.status, 200);
  const ok = await post(`${srv.url}/models/test/bert-ner`, { inputs: 'Alice lives in Paris' });
  t.is(ok.status, 200);
}

function assert4xx(
  t: import('ava').ExecutionContext,
  res: { status: number; body: unknown; text: string },
  label: string,
) {
  t.true(res.status >= 400 && res.status < 500, `${label}: ${res.status} ${res.text.slice(0, 200)}`);
  t.truthy((res.body as { error?: unknown } | undefined)?.error, `${label}: JSON error body`);
}

test('invalid JSON with a JSON content type is 400', async (t) => {
  for (const body of ['{"inputs": "x"', '{inputs: 1}', '[1,]', 'nul']) {
    const res = await post(`${srv.url}/models/test/bert-ner`, body, { 'content-type': 'application/json' });
    t.is(res.status, 400, body);
    assert4xx(t, res, body);
  }
  await stillServing(t);
});

test('wrong types are 400', async (t) => {
  const url = `${srv.url}/models/test/bert-ner`;
  const bodies: unknown[] = [
    { inputs: { a: 1 } },
    { inputs: [1, 2] },
    { inputs: true },
    { inputs: null },
    { inputs: 'x', parameters: 'p' },
    { inputs: 'x', parameters: { aggregation_strategy: 3 } },
    { inputs: 'x', options: 'o' },
    { inputs: 'x', options: { wait_for_model: 'yes' } },
    { inputs: 'x', parameters: { stride: -1 } },
  ];
  for (const body of bodies) assert4xx(t, await post(url, body), JSON.stringify(body));
  assert4xx(t, await post(`${srv.url}/embed`, { inputs: { nested: true } }), 'embed');
  assert4xx(t, await post(`${srv.url}/rerank`, { query: 1, texts: 'x' }), 'rerank');
  assert4xx(t, await post(`${srv.url}/v1/embeddings`, { input: 5 }), 'openai');
  assert4xx(t, await post(`${srv.url}/tokenize`, ['x']), 'tokenize');
  await stillServing(t);
});

test('a 10 MB body is 413', async (t) => {
  const big = 'a'.repeat(10 * 1024 * 1024);
  const res = await post(`${srv.url}/models/test/bert-ner`, JSON.stringify({ inputs: big }), {
    'content-type': 'application/json',
  }).catch((err: Error) => ({ status: -1, body: undefined, text: err.message }));
  t.is(res.status, 413, res.text.slice(0, 200));
  await stillServing(t);
});

test('deeply nested JSON is 400', async (t) => {
  const deep = `{"inputs": ${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
  const res = await post(`${srv.url}/models/test/bert-ner`, deep, { 'content-type': 'application/json' });
  t.is(res.status, 400);
  t.regex((res.body as { error: string }).error, /nested deeper/);
  await stillServing(t);
});

test('unicode edge cases: lone surrogates and invalid UTF-8 are 400; astral text is fine', async (t) => {
  const url = `${srv.url}/models/test/bert-ner`;
  for (const body of [
    '{"inputs": "abc \\ud800 def"}',
    '{"inputs": "\\udfff"}',
    '{"inputs": ["ok", "\\ud83d"]}',
  ]) {
    const res = await post(url, body, { 'content-type': 'application/json' });
    t.is(res.status, 400, body);
    t.regex((res.body as { error: string }).error, /surrogate/);
  }
  const cesu = Buffer.concat([
    Buffer.from('{"inputs": "'),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from('"}'),
  ]);
  t.is((await post(url, cesu, { 'content-type': 'application/json' })).status, 400);
  t.is((await post(url, Buffer.from([0xff, 0xfe, 0x41]), { 'content-type': 'text/plain' })).status, 400);
  const emoji = await post(url, { inputs: '👩‍💻 Maria 🇫🇷 lives in Zürich 𝐀' });
  t.is(emoji.status, 200);
  t.is(
    (await post(url, '\ufeff{"inputs": "BOM first"}', { 'content-type': 'application/json' })).status,
    200,
  );
  await stillServing(t);
});

test('prototype keys are rejected', async (t) => {
  const res = await post(
    `${srv.url}/models/test/bert-ner`,
    '{"inputs": "x", "parameters": {"__proto__": {"polluted": 1}}}',
    {
      'content-type': 'application/json',
    },
  );
  t.is(res.status, 400);
  t.is(({} as Record<string, unknown>).polluted, undefined);
  await stillServing(t);
});

test('traversal and encoded-separator model ids are 4xx and touch nothing', async (t) => {
  const paths = [
    '/models/../../etc/passwd',
    '/models/..%2F..%2Fetc%2Fpasswd',
    '/models/%2e%2e/%2e%2e/etc/passwd',
    '/models/test%2Fbert-ner',
    '/models/test/bert-ner/extra',
    '/models//etc/passwd',
    '/models/%2Fetc%2Fpasswd',
    '/models/C:%5CWindows',
    '/models/test/..',
    '/models/',
    '/pipeline/token-classification/..%2F..%2Fx',
    '/pipeline/..%2F/test/bert-ner',
    '/models/test/bert-ner%00',
  ];
  for (const p of paths) {
    const res = await request('POST', `${srv.url}${p}`, JSON.stringify({ inputs: 'x' }), {
      'content-type': 'application/json',
    });
    assert4xx(t, res, p);
  }
  await stillServing(t);
});

test('empty bodies and unsupported shapes are 400', async (t) => {
  const res = await request('POST', `${srv.url}/models/test/bert-ner`);
  t.is(res.status, 400);
  t.is((await post(`${srv.url}/embed`, 'just text', { 'content-type': 'text/plain' })).status, 400);
  await stillServing(t);
});

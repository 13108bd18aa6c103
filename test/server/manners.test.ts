/**
 * HTTP manners: 405 with `Allow` for a known path asked with another method, HEAD on the GET
 * routes, and CORS (off by default; any origin or a list of origins, with preflight answers).
 */
import test from 'ava';
import { request, startTestServer, type TestServer } from './helpers.js';

let plain: TestServer;
let listed: TestServer;

test.before(async () => {
  [plain, listed] = await Promise.all([
    startTestServer({ preload: false }),
    startTestServer({ preload: false, cors: ['https://app.example.com'] }),
  ]);
});

test.after.always(async () => {
  await Promise.all([plain?.close(), listed?.close()]);
});

test('a wrong method on a known path is 405 with Allow; an unknown path stays 404', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['GET', '/models/test/bert-ner', 'POST'],
    ['PUT', '/pipeline/feature-extraction/test/st-encoder', 'POST'],
    ['DELETE', '/embed', 'POST'],
    ['GET', '/v1/embeddings', 'POST'],
    ['POST', '/health', 'GET, HEAD'],
    ['POST', '/metrics', 'GET, HEAD'],
    ['PATCH', '/models', 'GET, HEAD'],
    ['OPTIONS', '/rerank', 'POST'],
  ];
  for (const [method, path, allow] of cases) {
    const res = await request(method, `${plain.url}${path}`);
    t.is(res.status, 405, `${method} ${path}`);
    t.is(res.headers.allow, allow, `${method} ${path}`);
    t.regex(String((res.body as { error: string }).error), new RegExp(`${method}.*not allowed`));
  }
  const missing = await request('GET', `${plain.url}/no/such/route`);
  t.is(missing.status, 404);
  t.is(missing.headers.allow, undefined);
});

test('HEAD works on the GET routes: headers without a body', async (t) => {
  for (const path of ['/health', '/models', '/metrics']) {
    const res = await request('HEAD', `${plain.url}${path}`);
    const full = await request('GET', `${plain.url}${path}`);
    t.is(res.status, full.status, path);
    t.is(res.text, '', path);
    t.is(res.headers['content-type'], full.headers['content-type'], path);
  }
});

test('CORS is off by default: no CORS headers, OPTIONS is a 405', async (t) => {
  const res = await request('GET', `${plain.url}/health`, undefined, { origin: 'https://app.example.com' });
  t.is(res.headers['access-control-allow-origin'], undefined);
  const pre = await request('OPTIONS', `${plain.url}/embed`, undefined, {
    origin: 'https://app.example.com',
    'access-control-request-method': 'POST',
  });
  t.is(pre.status, 405);
  t.is(pre.headers['access-control-allow-origin'], undefined);
});

test('CORS with listed origins: allowed origins get the headers, others none', async (t) => {
  const ok = await request('GET', `${listed.url}/health`, undefined, { origin: 'https://app.example.com' });
  t.is(ok.headers['access-control-allow-origin'], 'https://app.example.com');
  t.regex(String(ok.headers.vary), /origin/i);
  t.regex(String(ok.headers['access-control-expose-headers']), /x-compute-time/);
  const other = await request('GET', `${listed.url}/health`, undefined, { origin: 'https://evil.example' });
  t.is(other.headers['access-control-allow-origin'], undefined);
  t.regex(String(other.headers.vary), /origin/i);
  // Error answers carry them too.
  const bad = await request('POST', `${listed.url}/embed`, '{', {
    origin: 'https://app.example.com',
    'content-type': 'application/json',
  });
  t.is(bad.status, 400);
  t.is(bad.headers['access-control-allow-origin'], 'https://app.example.com');
});

test('CORS preflight: 204 with the path methods, the asked headers and a max age', async (t) => {
  const pre = await request('OPTIONS', `${listed.url}/models/test/bert-ner`, undefined, {
    origin: 'https://app.example.com',
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'content-type, x-use-cache',
  });
  t.is(pre.status, 204);
  t.is(pre.text, '');
  t.is(pre.headers['access-control-allow-origin'], 'https://app.example.com');
  t.is(pre.headers['access-control-allow-methods'], 'POST');
  t.is(pre.headers['access-control-allow-headers'], 'content-type, x-use-cache');
  t.is(pre.headers['access-control-max-age'], '600');
  t.is(pre.headers.allow, 'POST, OPTIONS');
  const denied = await request('OPTIONS', `${listed.url}/embed`, undefined, {
    origin: 'https://evil.example',
    'access-control-request-method': 'POST',
  });
  t.is(denied.status, 204);
  t.is(denied.headers['access-control-allow-origin'], undefined);
  t.is(denied.headers['access-control-allow-methods'], undefined);
  const unknown = await request('OPTIONS', `${listed.url}/no/such/route`, undefined, {
    origin: 'https://app.example.com',
    'access-control-request-method': 'POST',
  });
  t.is(unknown.status, 404);
  const wrong = await request('GET', `${listed.url}/embed`);
  t.is(wrong.status, 405);
  t.is(wrong.headers.allow, 'POST, OPTIONS');
});

test('CORS for any origin answers *', async (t) => {
  const any = await startTestServer({ preload: false, cors: true });
  try {
    const res = await request('GET', `${any.url}/health`, undefined, { origin: 'http://localhost:3000' });
    t.is(res.headers['access-control-allow-origin'], '*');
    const pre = await request('OPTIONS', `${any.url}/v1/embeddings`, undefined, {
      origin: 'http://localhost:3000',
      'access-control-request-method': 'POST',
    });
    t.is(pre.status, 204);
    t.is(pre.headers['access-control-allow-origin'], '*');
  } finally {
    await any.close();
  }
});

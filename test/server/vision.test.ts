/**
 * The vision tasks over HTTP: raw image bodies (any image content type), JSON with base64
 * `inputs` and parameters, answers equal to the reference goldens, and bad input as 400/413
 * with the server still serving. Request strings never read server files or fetch URLs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { compare, GOLDENS, IMAGES } from '../tasks/vision-goldens.js';
import { fixtureModel, post, startTestServer, type TestServer } from './helpers.js';

let srv: TestServer;

test.before(async () => {
  srv = await startTestServer({
    bodyLimit: 256 * 1024,
    models: [
      { id: 'test/vit', path: fixtureModel('vit-tiny'), tasks: [] },
      { id: 'test/detr', path: fixtureModel('detr-tiny'), tasks: [] },
      { id: 'test/detr-panoptic', path: fixtureModel('detr-panoptic-tiny'), tasks: [] },
      { id: 'test/segformer', path: fixtureModel('segformer-tiny'), tasks: [] },
    ],
  });
});

test.after.always(async () => {
  await srv?.close();
});

const image = (name: string) => readFileSync(path.join(IMAGES, name));
const golden = (model: string, file: string, parameters: Record<string, unknown> = {}) => {
  const found = GOLDENS.cases.find(
    (c) =>
      c.model === model && c.image === file && JSON.stringify(c.parameters) === JSON.stringify(parameters),
  );
  if (found === undefined) throw new Error(`no golden for ${model} ${file}`);
  return found;
};

test('a raw image body runs the task the config implies, equal to the reference', async (t) => {
  for (const [id, model, file, type] of [
    ['test/vit', 'vit-tiny', 'rgb_300x200.png', 'image/png'],
    ['test/detr', 'detr-tiny', 'webp_lossless_64x48.webp', 'image/webp'],
    ['test/segformer', 'segformer-tiny', 'gif_64x48.gif', 'image/gif'],
    ['test/detr-panoptic', 'detr-panoptic-tiny', 'exif6_64x48.png', 'application/octet-stream'],
  ] as const) {
    const res = await post(`${srv.url}/models/${id}`, image(file), { 'content-type': type });
    t.is(res.status, 200, `${id}: ${res.text.slice(0, 200)}`);
    t.is(res.headers['x-compute-images'], '1');
    const r = await compare(golden(model, file), res.body);
    t.deepEqual(r.problems, [], `${id} ${file}`);
  }
});

test('JSON with base64 inputs (or a data: URL) and parameters', async (t) => {
  const file = 'rgb_64x48.png';
  const b64 = image(file).toString('base64');
  const res = await post(`${srv.url}/models/test/vit`, { inputs: b64, parameters: { top_k: 2 } });
  t.is(res.status, 200, res.text);
  t.deepEqual((await compare(golden('vit-tiny', file, { top_k: 2 }), res.body)).problems, []);
  const det = await post(`${srv.url}/models/test/detr`, {
    inputs: `data:image/png;base64,${b64}`,
    parameters: { threshold: 0.0 },
  });
  t.is(det.status, 200, det.text);
  t.deepEqual((await compare(golden('detr-tiny', file, { threshold: 0.0 }), det.body)).problems, []);
  const seg = await post(`${srv.url}/models/test/detr-panoptic`, {
    inputs: b64,
    parameters: { subtask: 'semantic' },
  });
  t.is(seg.status, 200, seg.text);
  t.deepEqual(
    (await compare(golden('detr-panoptic-tiny', file, { subtask: 'semantic' }), seg.body)).problems,
    [],
  );
});

function assert400(
  t: import('ava').ExecutionContext,
  res: { status: number; text: string },
  pattern: RegExp,
) {
  t.is(res.status, 400, res.text);
  t.regex(res.text, pattern);
}

test('bad images and parameters are 400 with a clear message; the server keeps serving', async (t) => {
  const url = `${srv.url}/models/test/vit`;
  const png = { 'content-type': 'image/png' };
  assert400(t, await post(url, image('truncated.png'), png), /truncated|corrupt/i);
  assert400(
    t,
    await post(url, image('truncated.jpg'), { 'content-type': 'image/jpeg' }),
    /truncated|corrupt/i,
  );
  assert400(t, await post(url, image('garbage.bin'), png), /unrecognised image format/);
  assert400(t, await post(url, Buffer.alloc(0), png), /empty/);
  assert400(t, await post(url, image('bomb.png'), png), /exceeds the limit/);
  const b64 = image('rgb_64x48.png').toString('base64');
  assert400(
    t,
    await post(`${srv.url}/models/test/detr`, { inputs: b64, parameters: { threshold: 1.5 } }),
    /threshold/,
  );
  assert400(
    t,
    await post(`${srv.url}/models/test/detr`, { inputs: b64, parameters: { threshold: 'x' } }),
    /threshold/,
  );
  assert400(
    t,
    await post(`${srv.url}/models/test/segformer`, { inputs: b64, parameters: { subtask: 'panoptic' } }),
    /Subtask panoptic is not supported/,
  );
  assert400(
    t,
    await post(`${srv.url}/models/test/detr-panoptic`, { inputs: b64, parameters: { mask_threshold: -0.1 } }),
    /mask_threshold/,
  );
  assert400(t, await post(url, { inputs: 'not base64 at all!' }), /not an image/);
  // Strings never name server files, and URLs are not fetched.
  assert400(t, await post(url, { inputs: path.join(IMAGES, 'rgb_64x48.png') }), /not an image/);
  assert400(t, await post(url, { inputs: 'http://127.0.0.1:1/cat.png' }), /not fetched/);
  const ok = await post(url, image('rgb_7x5.png'), png);
  t.is(ok.status, 200);
});

test('a 50000x50000 header is refused before decoding; a body over the limit is 413', async (t) => {
  // A PNG signature, an IHDR claiming 50000x50000 pixels and an empty IDAT: no image data.
  const { crc32 } = await import('node:zlib');
  const pngChunk = (kind: string, data: Buffer) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(kind, 4, 'latin1');
    data.copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(50_000, 0);
  ihdr.writeUInt32BE(50_000, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const header = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', Buffer.alloc(0)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
  const res = await post(`${srv.url}/models/test/vit`, header, { 'content-type': 'image/png' });
  t.is(res.status, 400, res.text);
  t.regex(res.text, /50000x50000/);
  const big = await post(`${srv.url}/models/test/vit`, Buffer.alloc(300 * 1024, 1), {
    'content-type': 'image/png',
  });
  t.is(big.status, 413);
});

test('the image pixel limit of the server (maxImagePixels) answers 400 and keeps serving', async (t) => {
  const small = await startTestServer({
    maxImagePixels: 64 * 48,
    models: [{ id: 'test/vit', path: fixtureModel('vit-tiny'), tasks: [] }],
  });
  try {
    const big = await post(`${small.url}/models/test/vit`, image('rgb_300x200.png'), {
      'content-type': 'image/png',
    });
    t.is(big.status, 400, big.text);
    t.regex(JSON.stringify(big.body), /3072/);
    const ok = await post(`${small.url}/models/test/vit`, image('rgb_64x48.png'), {
      'content-type': 'image/png',
    });
    t.is(ok.status, 200, ok.text);
  } finally {
    await small.close();
  }
});

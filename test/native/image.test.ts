import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { NativeError } from '../../ts/errors.js';
import { decodeImage, preprocessImage } from '../../ts/native.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const images = path.join(here, '..', 'fixtures', 'images');
const golden = JSON.parse(
  readFileSync(path.join(here, '..', 'fixtures', 'goldens', 'images.json'), 'utf8'),
) as {
  decoded: Record<string, { width: number; height: number; rgb_b64?: string }>;
  vit: { input: string; indices?: number[]; values?: number[]; error?: string }[];
};

function file(name: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(images, name)));
}

test('decodeImage returns Pillow-identical RGB for small PNG, GIF, BMP, TIFF and WebP files', async (t) => {
  let checked = 0;
  for (const [name, want] of Object.entries(golden.decoded)) {
    if (want.rgb_b64 === undefined) continue;
    const got = await decodeImage(file(name));
    t.is(got.width, want.width, name);
    t.is(got.height, want.height, name);
    t.true(Buffer.from(got.data).equals(Buffer.from(want.rgb_b64, 'base64')), name);
    checked++;
  }
  t.true(checked >= 15);
});

test('decodeImage applies EXIF orientation and reports it', async (t) => {
  const turned = await decodeImage(file('jpeg_exif6_40x24.jpg'));
  t.deepEqual([turned.width, turned.height, turned.orientation, turned.format], [24, 40, 6, 'jpeg']);
  const raw = await decodeImage(file('jpeg_exif6_40x24.jpg'), { applyExifOrientation: false });
  t.deepEqual([raw.width, raw.height, raw.orientation], [40, 24, 1]);
});

test('preprocessImage gives the ViTImageProcessor pixel_values within 1e-5', async (t) => {
  let checked = 0;
  for (const c of golden.vit) {
    if (c.error !== undefined || c.indices === undefined || c.values === undefined) continue;
    const out = await preprocessImage(file(c.input), {
      resize: { width: 224, height: 224 },
      resample: 2,
      rescaleFactor: 1 / 255,
      imageMean: [0.5, 0.5, 0.5],
      imageStd: [0.5, 0.5, 0.5],
    });
    t.deepEqual(out.shape, [3, 224, 224]);
    c.indices.forEach((i, k) => {
      t.true(Math.abs((out.pixelValues[i] ?? Number.NaN) - (c.values?.[k] ?? 0)) <= 1e-5, `${c.input}[${i}]`);
    });
    checked++;
  }
  t.true(checked >= 10);
});

test('bad bytes and parameters reject with coded NativeErrors', async (t) => {
  const cases: [Promise<unknown>, string][] = [
    [decodeImage(new Uint8Array(0)), 'ERR_IMAGE_EMPTY'],
    [decodeImage(file('garbage.bin')), 'ERR_IMAGE_FORMAT'],
    [decodeImage(file('bomb.png')), 'ERR_IMAGE_TOO_LARGE'],
    [decodeImage(file('rgb_64x48.png'), { maxPixels: 100 }), 'ERR_IMAGE_TOO_LARGE'],
    [
      preprocessImage(file('rgb_7x5.png'), { resize: { width: 3, height: 3 }, resample: 9 }),
      'ERR_INVALID_ARGUMENT',
    ],
    [preprocessImage(file('rgb_7x5.png'), { imageMean: [0.5] }), 'ERR_INVALID_ARGUMENT'],
    [decodeImage(file('rgb_7x5.png'), { maxPixels: -1 }), 'ERR_INVALID_ARGUMENT'],
  ];
  for (const [pending, code] of cases) {
    const err = await t.throwsAsync(pending);
    t.true(err instanceof NativeError, String(err));
    t.is((err as NativeError).code, code, err?.message);
  }
  const truncated = await t.throwsAsync(decodeImage(file('truncated.png')));
  t.regex((truncated as NativeError).code, /^ERR_IMAGE_(TRUNCATED|CORRUPT)$/);
});

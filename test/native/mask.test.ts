import test from 'ava';
import { PNG } from 'pngjs';
import { encodeMaskPng, NativeError } from '../../ts/index.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof NativeError) return err.code;
    return `not a NativeError: ${String(err)}`;
  }
  return undefined;
}

/** Decodes a base64 PNG with pngjs, returning the gray value of every pixel (row-major). */
function decode(b64: string): { width: number; height: number; gray: number[] } {
  const png = PNG.sync.read(Buffer.from(b64, 'base64'));
  const gray: number[] = [];
  // pngjs expands to RGBA; a grayscale source has R = G = B and A = 255.
  for (let i = 0; i < png.width * png.height; i++) {
    const [r, g, b, a] = [png.data[4 * i]!, png.data[4 * i + 1]!, png.data[4 * i + 2]!, png.data[4 * i + 3]!];
    if (r !== g || g !== b || a !== 255) throw new Error(`pixel ${i} is not opaque gray`);
    gray.push(r);
  }
  return { width: png.width, height: png.height, gray };
}

test('a mask round-trips pixel for pixel through pngjs', (t) => {
  const mask = new Uint8Array([0, 1, 1, 0, 0, 1, 0, 7, 0, 1, 0, 0, 0, 0, 255]);
  const b64 = encodeMaskPng(mask, 3, 5);
  t.regex(b64, /^[A-Za-z0-9+/]+={0,2}$/);
  t.false(b64.startsWith('data:'));
  const png = decode(b64);
  t.is(png.width, 5);
  t.is(png.height, 3);
  t.deepEqual(
    png.gray,
    [...mask].map((m) => (m ? 255 : 0)),
  );
  // 8-bit grayscale in the file (colour type 0, bit depth 8 at byte offsets 24/25 of IHDR).
  const bytes = Buffer.from(b64, 'base64');
  t.is(bytes[24], 8);
  t.is(bytes[25], 0);
});

test('a larger patterned mask round-trips', (t) => {
  const [h, w] = [97, 131];
  const mask = new Uint8Array(h * w);
  for (let i = 0; i < mask.length; i++) mask[i] = (Math.floor(i / w) + (i % w)) % 3 === 0 ? 1 : 0;
  const png = decode(encodeMaskPng(mask, h, w));
  t.is(png.width, w);
  t.is(png.height, h);
  t.true(png.gray.every((g, i) => g === mask[i]! * 255));
});

test('hostile input raises typed errors', (t) => {
  t.is(
    code(() => encodeMaskPng(new Uint8Array(5), 2, 3)),
    'ERR_DIMS',
  );
  t.is(
    code(() => encodeMaskPng(new Uint8Array(0), 0, 0)),
    'ERR_DIMS',
  );
  t.is(
    code(() => encodeMaskPng(new Uint8Array(0), 0, 9)),
    'ERR_DIMS',
  );
  t.is(
    code(() => encodeMaskPng(new Uint8Array(4), 2 ** 32 + 2, 2)),
    'ERR_DIMS',
  );
  t.is(
    code(() => encodeMaskPng(new Uint8Array(4), 2 ** 53, 2 ** 53)),
    'ERR_DIMS',
  );
  t.is(
    code(() => encodeMaskPng(new Uint8Array(4), -2, -2)),
    'ERR_DIMS',
  );
  t.is(
    code(() => encodeMaskPng(new Uint8Array(4), 1.5, 2)),
    'ERR_DIMS',
  );
  t.is(
    code(() => encodeMaskPng([1, 0] as unknown as Uint8Array, 1, 2)),
    'ERR_INVALID_ARGUMENT',
  );
  t.is(
    code(() => encodeMaskPng(new Float32Array(2) as unknown as Uint8Array, 1, 2)),
    'ERR_INVALID_ARGUMENT',
  );
});

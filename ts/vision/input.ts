/**
 * Image inputs of the vision tasks: the bytes of an encoded file (Buffer, Uint8Array,
 * ArrayBuffer), a path to a file, a base64 string or a `data:` URL. URLs are never fetched.
 * The HTTP server turns off paths (`localFiles: false`): a request cannot read server files.
 */
import { readFile, stat } from 'node:fs/promises';
import { InvalidInputError } from '../errors.js';
import { describeValue } from '../tasks/params.js';

/** Where image bytes may come from. */
export interface ImageInputOptions {
  /** Accept strings naming local files (library default true; the server passes false). */
  localFiles: boolean;
  /** Largest encoded image in bytes (files read from disk, base64 strings). */
  maxBytes: number;
}

/** Default largest encoded image: 64 MiB. */
export const DEFAULT_MAX_IMAGE_BYTES = 64 * 1024 * 1024;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64_URL = /^[A-Za-z0-9_-]*={0,2}$/;
const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*),/i;

function invalid(message: string): InvalidInputError {
  return new InvalidInputError('ERR_INVALID_INPUT', message);
}

function fromBase64(text: string, name: string, maxBytes: number): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0) throw invalid(`\`${name}\` is an empty string; send image bytes or base64`);
  if (!(BASE64.test(compact) || BASE64_URL.test(compact)) || compact.length % 4 === 1) {
    throw invalid(
      `\`${name}\` is not an image: a string must be base64 image data, a data: URL or (in the library) a path to an image file`,
    );
  }
  if (Math.floor((compact.length * 3) / 4) > maxBytes) {
    throw invalid(`\`${name}\` holds more than ${maxBytes} bytes of image data (the limit)`);
  }
  return new Uint8Array(Buffer.from(compact, BASE64.test(compact) ? 'base64' : 'base64url'));
}

async function fromPath(file: string, name: string, maxBytes: number): Promise<Uint8Array | null> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(file);
  } catch {
    return null;
  }
  if (!info.isFile()) throw invalid(`\`${name}\` names ${file}, which is not a file`);
  if (info.size > maxBytes) {
    throw invalid(`\`${name}\`: ${file} has ${info.size} bytes, above the ${maxBytes}-byte image limit`);
  }
  return new Uint8Array(await readFile(file));
}

/** Resolves one image input to its encoded bytes. */
export async function imageBytes(v: unknown, name: string, options: ImageInputOptions): Promise<Uint8Array> {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^https?:\/\//i.test(s)) {
      throw invalid(`\`${name}\` is a URL; URLs are not fetched: send the image bytes (or base64)`);
    }
    const data = DATA_URL.exec(s);
    if (data !== null) {
      if (!/;base64$/i.test(data[2] ?? '')) {
        throw invalid(`\`${name}\` is a data: URL without ;base64 (only base64 data URLs hold images)`);
      }
      return fromBase64(s.slice(data[0].length), name, options.maxBytes);
    }
    if (options.localFiles && s.length > 0 && s.length < 4096 && !BASE64.test(s)) {
      const bytes = await fromPath(s, name, options.maxBytes);
      if (bytes !== null) return bytes;
      throw invalid(`\`${name}\`: no file at ${JSON.stringify(s)} (and the string is not base64 image data)`);
    }
    if (options.localFiles && s.length > 0 && s.length < 4096) {
      // A path made only of base64 characters (`cat`, `images/a`): a file wins when it exists.
      const bytes = await fromPath(s, name, options.maxBytes);
      if (bytes !== null) return bytes;
    }
    return fromBase64(s, name, options.maxBytes);
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, 'image')) {
    // The community inference server's `{"image": <base64>}` form.
    return imageBytes((v as { image: unknown }).image, `${name}.image`, options);
  }
  throw invalid(
    `\`${name}\` must be image bytes (Buffer/Uint8Array), a base64 string or a data: URL${
      options.localFiles ? ', or a path' : ''
    } (got ${describeValue(v)})`,
  );
}

/** Whether `v` is one image (as opposed to a list of images). */
export function isSingleImage(v: unknown): boolean {
  return !Array.isArray(v);
}

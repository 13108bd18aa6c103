/**
 * Audio inputs of the speech tasks, as the reference pipelines accept them: the bytes of an
 * encoded file (Buffer, Uint8Array, ArrayBuffer), a path to a file (library only), a base64
 * string or a `data:` URL, or decoded samples `{raw, sampling_rate}` / `{array, sampling_rate}`
 * (a Float32Array, Float64Array or number array; a list of channel arrays is averaged, as the
 * ASR pipeline takes the mean of the channels). URLs are never fetched. Decoding and
 * resampling run in the native core on the thread pool, never on the event loop.
 */
import { readFile, stat } from 'node:fs/promises';
import { HfTasksError, InvalidInputError, NativeError } from '../errors.js';
import { decodeAudio, resampleAudio } from '../native.js';
import { describeValue } from '../tasks/params.js';

/** Where audio may come from, and how much of it. */
export interface AudioOptions {
  /** Accept strings naming local files (library default true; the HTTP server turns it off). */
  localFiles?: boolean;
  /** Largest encoded file in bytes (buffers, files, base64). Default 100 MiB. */
  maxBytes?: number;
  /** Longest audio in seconds, checked from the header before decoding and while decoding. Default 3600. */
  maxDurationSeconds?: number;
}

export interface ResolvedAudioOptions {
  localFiles: boolean;
  maxBytes: number;
  maxDurationSeconds: number;
}

export const DEFAULT_MAX_AUDIO_BYTES = 100 * 1024 * 1024;
export const DEFAULT_MAX_AUDIO_SECONDS = 3600;

/** Checks the `audio` library option. */
export function resolveAudioOptions(v: AudioOptions | undefined): ResolvedAudioOptions {
  if (v !== undefined && (typeof v !== 'object' || v === null)) {
    throw new HfTasksError('ERR_INVALID_ARGUMENT', 'options.audio must be an object');
  }
  const maxBytes = v?.maxBytes ?? DEFAULT_MAX_AUDIO_BYTES;
  if (!(Number.isSafeInteger(maxBytes) && maxBytes >= 1)) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `options.audio.maxBytes must be an integer >= 1 (got ${String(maxBytes)})`,
    );
  }
  const maxDurationSeconds = v?.maxDurationSeconds ?? DEFAULT_MAX_AUDIO_SECONDS;
  if (
    !(typeof maxDurationSeconds === 'number' && Number.isFinite(maxDurationSeconds) && maxDurationSeconds > 0)
  ) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `options.audio.maxDurationSeconds must be a positive number (got ${String(maxDurationSeconds)})`,
    );
  }
  if (v?.localFiles !== undefined && typeof v.localFiles !== 'boolean') {
    throw new HfTasksError('ERR_INVALID_ARGUMENT', 'options.audio.localFiles must be a boolean');
  }
  return { localFiles: v?.localFiles ?? true, maxBytes, maxDurationSeconds };
}

/** Mono samples at the model's rate. */
export interface Audio {
  samples: Float32Array;
  samplingRate: number;
  /**
   * A dict input's `stride` as given (speech recognition's streaming strides: samples at the
   * input's own rate to leave out on the left and right; other tasks ignore it, as their
   * reference pipelines do), with that rate.
   */
  stride?: { value: unknown; sourceRate: number };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64_URL = /^[A-Za-z0-9_-]*={0,2}$/;
const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*),/i;

function invalid(message: string): InvalidInputError {
  return new InvalidInputError('ERR_INVALID_INPUT', message);
}

/** Over a size limit: the server answers 413. */
function tooLarge(message: string): InvalidInputError {
  return new InvalidInputError('ERR_AUDIO_TOO_LARGE', message);
}

/**
 * The native decoder's failures on bad audio (`ERR_AUDIO_*`: empty, unknown format,
 * unsupported codec, corrupt, too long; `ERR_INVALID_ARGUMENT`: non-finite samples, a bad
 * rate) are input errors (400; too long: 413).
 */
async function asInputError<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (
      err instanceof NativeError &&
      (err.code.startsWith('ERR_AUDIO_') || err.code === 'ERR_INVALID_ARGUMENT')
    ) {
      throw new InvalidInputError(err.code, err.message, { cause: err });
    }
    throw err;
  }
}

function fromBase64(text: string, name: string, maxBytes: number): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0) throw invalid(`\`${name}\` is an empty string; send audio bytes or base64`);
  if (!(BASE64.test(compact) || BASE64_URL.test(compact)) || compact.length % 4 === 1) {
    throw invalid(
      `\`${name}\` is not audio: a string must be base64 audio data, a data: URL or (in the library) a path to an audio file`,
    );
  }
  if (Math.floor((compact.length * 3) / 4) > maxBytes) {
    throw tooLarge(`\`${name}\` holds more than ${maxBytes} bytes of audio data (the limit)`);
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
    throw tooLarge(`\`${name}\`: ${file} has ${info.size} bytes, above the ${maxBytes}-byte audio limit`);
  }
  return new Uint8Array(await readFile(file));
}

/** Resolves a file-like input (bytes, base64, data URL, path) to its encoded bytes; null when `v` is none. */
async function fileBytes(
  v: unknown,
  name: string,
  options: ResolvedAudioOptions,
): Promise<Uint8Array | null> {
  let bytes: Uint8Array | null = null;
  if (v instanceof Uint8Array) bytes = v;
  else if (v instanceof ArrayBuffer) bytes = new Uint8Array(v);
  else if (ArrayBuffer.isView(v) && !(v instanceof Float32Array) && !(v instanceof Float64Array)) {
    bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  if (bytes !== null) {
    if (bytes.byteLength > options.maxBytes) {
      throw tooLarge(
        `\`${name}\` has ${bytes.byteLength} bytes, above the ${options.maxBytes}-byte audio limit`,
      );
    }
    return bytes;
  }
  if (typeof v !== 'string') return null;
  const s = v.trim();
  if (/^https?:\/\//i.test(s)) {
    throw invalid(`\`${name}\` is a URL; URLs are not fetched: send the audio bytes (or base64)`);
  }
  const data = DATA_URL.exec(s);
  if (data !== null) {
    if (!/;base64$/i.test(data[2] ?? '')) {
      throw invalid(`\`${name}\` is a data: URL without ;base64 (only base64 data URLs hold audio)`);
    }
    return fromBase64(s.slice(data[0].length), name, options.maxBytes);
  }
  if (options.localFiles && s.length > 0 && s.length < 4096) {
    const file = await fromPath(s, name, options.maxBytes);
    if (file !== null) return file;
    if (!BASE64.test(s)) {
      throw invalid(`\`${name}\`: no file at ${JSON.stringify(s)} (and the string is not base64 audio data)`);
    }
  }
  return fromBase64(s, name, options.maxBytes);
}

/**
 * What a task does with raw samples of several channels: `mean` takes the mean of the channels
 * (the ASR pipeline's mono conversion); a pipeline name refuses them as that reference pipeline
 * does (audio classification).
 */
export type MultiChannel = 'mean' | { refuseFor: string };

function toFloat32(v: unknown, name: string, multiChannel: MultiChannel): Float32Array | null {
  if (v instanceof Float32Array) return v;
  if (v instanceof Float64Array) return Float32Array.from(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return Float32Array.from(v as number[]);
  if (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((c) => c instanceof Float32Array || c instanceof Float64Array || Array.isArray(c))
  ) {
    if (multiChannel !== 'mean') {
      throw invalid(`\`${name}\`: We expect a single channel audio input for ${multiChannel.refuseFor}`);
    }
    // Channels first: the mean of the channels.
    const channels = v.map((c, i) => toFloat32(c, `${name}[${i}]`, 'mean'));
    const first = channels[0];
    if (
      first === null ||
      first === undefined ||
      channels.some((c) => c === null || c.length !== first.length)
    ) {
      throw invalid(`\`${name}\`: every channel must be an array of numbers of the same length`);
    }
    const out = new Float32Array(first.length);
    for (let i = 0; i < out.length; i++) {
      let sum = 0;
      for (const c of channels) sum += (c as Float32Array)[i] as number;
      out[i] = sum / channels.length;
    }
    return out;
  }
  return null;
}

/** Decoded samples given as `{raw | array, sampling_rate}`. */
async function rawInput(
  obj: Record<string, unknown>,
  name: string,
  targetRate: number,
  options: ResolvedAudioOptions,
  multiChannel: MultiChannel,
): Promise<Audio> {
  const key = Object.hasOwn(obj, 'raw') ? 'raw' : 'array';
  if (!Object.hasOwn(obj, 'sampling_rate') || !Object.hasOwn(obj, key)) {
    throw invalid(
      `When passing a dictionary as \`${name}\`, the dict needs to contain a "raw" key containing the audio samples and a "sampling_rate" key, containing the sampling_rate associated with that array`,
    );
  }
  const rate = obj.sampling_rate;
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 1 || rate > 768_000) {
    throw invalid(`\`${name}.sampling_rate\` must be an integer in 1..768000 (got ${describeValue(rate)})`);
  }
  const samples = toFloat32(obj[key], `${name}.${key}`, multiChannel);
  if (samples === null) {
    throw invalid(
      `\`${name}.${key}\` must be a Float32Array, Float64Array or an array of numbers (got ${describeValue(obj[key])})`,
    );
  }
  if (samples.length === 0) throw invalid(`\`${name}.${key}\` holds no samples`);
  // Checks finiteness and the duration limit; resamples when the rate differs.
  const out = await asInputError(() => resampleAudio(samples, rate, targetRate, options.maxDurationSeconds));
  const audio: Audio = { samples: out, samplingRate: targetRate };
  // `stride: None` is no stride, as the reference pops it with that default.
  if (obj.stride !== undefined && obj.stride !== null) audio.stride = { value: obj.stride, sourceRate: rate };
  return audio;
}

/**
 * Decodes one audio input to mono samples at `targetRate`. Files are mixed down to mono; raw
 * samples of several channels follow `multiChannel`.
 */
export async function loadAudio(
  v: unknown,
  name: string,
  targetRate: number,
  options: ResolvedAudioOptions,
  multiChannel: MultiChannel = 'mean',
): Promise<Audio> {
  const bytes = await fileBytes(v, name, options);
  if (bytes !== null) {
    const decoded = await asInputError(() =>
      decodeAudio(bytes, { samplingRate: targetRate, maxDurationSeconds: options.maxDurationSeconds }),
    );
    return { samples: decoded.samples, samplingRate: decoded.samplingRate };
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
    return rawInput(v as Record<string, unknown>, name, targetRate, options, multiChannel);
  }
  if (v instanceof Float32Array || v instanceof Float64Array) {
    // A bare array: raw audio at the model's rate (the reference does no further check).
    return rawInput({ raw: v, sampling_rate: targetRate }, name, targetRate, options, multiChannel);
  }
  throw invalid(
    `\`${name}\` must be audio bytes (Buffer/Uint8Array), a base64 string, a data: URL${
      options.localFiles ? ', a path' : ''
    }, or {raw, sampling_rate} (got ${describeValue(v)})`,
  );
}

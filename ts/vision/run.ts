/**
 * What the three vision tasks share: their options, turning inputs into preprocessed images
 * (decode + image processor, on the libuv pool), and running the network on them.
 */
import { HfTasksError, InvalidInputError, InvalidParameterError } from '../errors.js';
import { type NativePixelValues, processImage } from '../native.js';
import { DEFAULT_BATCHING } from '../runtime/batcher.js';
import type { LoadedModel } from '../runtime/model.js';
import type { TensorLike } from '../runtime/runner.js';
import { describeValue, has, invalidInput } from '../tasks/params.js';
import { DEFAULT_MAX_IMAGE_BYTES, imageBytes } from './input.js';
import type { ImageProcessor } from './processor.js';

/** Limits and input sources of the vision tasks (`pipeline(..., {vision})`). */
export interface VisionOptions {
  /** Accept strings naming local files (default true; the HTTP server turns it off). */
  localFiles?: boolean;
  /** Largest `width * height` of an image, checked from its header before decoding (default 178956970, Pillow's limit). */
  maxPixels?: number;
  /** Largest encoded image in bytes read from a file or base64 (default 64 MiB). */
  maxBytes?: number;
}

/** Pillow's decompression-bomb limit (`2 * Image.MAX_IMAGE_PIXELS`). */
export const DEFAULT_MAX_PIXELS = 178_956_970;

export interface ResolvedVisionOptions {
  localFiles: boolean;
  maxPixels: number;
  maxBytes: number;
}

/** Checks `pipeline()`'s `vision` option. */
export function resolveVisionOptions(v: VisionOptions | undefined): ResolvedVisionOptions {
  if (v !== undefined && (typeof v !== 'object' || v === null)) {
    throw new HfTasksError('ERR_INVALID_ARGUMENT', 'options.vision must be an object');
  }
  for (const key of ['maxPixels', 'maxBytes'] as const) {
    const n = v?.[key];
    if (n !== undefined && !(Number.isSafeInteger(n) && n >= 1)) {
      throw new HfTasksError(
        'ERR_INVALID_ARGUMENT',
        `options.vision.${key} must be an integer >= 1 (got ${String(n)})`,
      );
    }
  }
  if (v?.localFiles !== undefined && typeof v.localFiles !== 'boolean') {
    throw new HfTasksError('ERR_INVALID_ARGUMENT', 'options.vision.localFiles must be a boolean');
  }
  return {
    localFiles: v?.localFiles ?? true,
    maxPixels: v?.maxPixels ?? DEFAULT_MAX_PIXELS,
    maxBytes: v?.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES,
  };
}

/** One preprocessed image: `[3, height, width]` values and the oriented original size. */
export type Pixels = NativePixelValues;

/** Splits `inputs` into images (a list is a batch) and whether a single image was sent. */
export function imageList(inputs: unknown): { items: unknown[]; single: boolean } {
  if (Array.isArray(inputs)) {
    if (inputs.length === 0) throw invalidInput('At least one image is required.');
    return { items: inputs, single: false };
  }
  if (inputs === undefined || inputs === null) throw invalidInput('`inputs` must be an image');
  return { items: [inputs], single: true };
}

/** Decodes and preprocesses every image; decoding errors become 400s naming the input. */
export async function preprocessAll(
  items: unknown[],
  processor: ImageProcessor,
  options: ResolvedVisionOptions,
): Promise<Pixels[]> {
  return Promise.all(
    items.map(async (item, i) => {
      const name = items.length === 1 ? 'inputs' : `inputs[${i}]`;
      const bytes = await imageBytes(item, name, options);
      let px: Pixels;
      try {
        px = await processImage(bytes, processor.spec, { maxPixels: options.maxPixels });
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'string' && (code.startsWith('ERR_IMAGE') || code === 'ERR_INVALID_ARGUMENT')) {
          throw new InvalidInputError(code, `${name}: ${(err as Error).message}`, { cause: err });
        }
        throw err;
      }
      // The reference infers the channel axis from the array shape: an image one pixel high
      // reads as one channel first. Three-value normalisation then fails; without it the
      // one-channel tensor fails in the network.
      if (px.originalHeight === 1) {
        const why =
          processor.spec.imageMean?.length === 3
            ? 'mean must have 1 elements if it is an iterable, got 3'
            : 'the model gets 1 channel instead of 3';
        throw new InvalidInputError(
          'ERR_INVALID_INPUT',
          `${name}: an image 1 pixel high is read as channels-first by the reference processor: ${why}`,
        );
      }
      return px;
    }),
  );
}

/** Feeds of one image (`[1, 3, h, w]`), plus an all-ones `pixel_mask` when the graph takes one. */
export function imageFeeds(model: LoadedModel, px: Pixels): Record<string, TensorLike> {
  const [c, h, w] = px.shape as [number, number, number];
  const feeds: Record<string, TensorLike> = {
    pixel_values: { type: 'float32', data: px.pixelValues, dims: [1, c, h, w] },
  };
  if (model.runner.inputNames.includes('pixel_mask')) {
    feeds.pixel_mask = { type: 'int64', data: new BigInt64Array(h * w).fill(1n), dims: [1, h, w] };
  }
  return feeds;
}

/**
 * Runs the network on images of one size as stacked batches (`[n, 3, h, w]`), or one by one
 * when their sizes differ (aspect-preserving processors). On an engine with several workers a
 * list is cut into one contiguous batch per worker, run at the same time, so that a lone large
 * call uses every worker; no batch holds more images than the runner's batch size.
 */
export async function runImages(
  model: LoadedModel,
  images: Pixels[],
  outputs: string[],
): Promise<Record<string, TensorLike>[]> {
  const first = images[0];
  const same = first !== undefined && images.every((p) => p.shape.every((d, i) => d === first.shape[i]));
  if (!same || images.length === 1 || model.runner.inputNames.includes('pixel_mask')) {
    const part = images.length > 1;
    return Promise.all(images.map((px) => model.runner.run(imageFeeds(model, px), { outputs, part })));
  }
  const lanes = Math.max(1, Math.floor(model.runner.parallelism ?? 1));
  const chunks = Math.min(lanes, images.length);
  // At most the runner's batch size per run (the engine's default unless it is told otherwise).
  const maxRows = model.runner.batchLimits?.rows ?? DEFAULT_BATCHING.maxBatchSize;
  const size = Math.min(Math.ceil(images.length / chunks), maxRows);
  const parts: Pixels[][] = [];
  for (let i = 0; i < images.length; i += size) parts.push(images.slice(i, i + size));
  const results = await Promise.all(parts.map((part) => runStacked(model, part, outputs, parts.length > 1)));
  return results.flat();
}

/** One stacked run of same-size images, cut back into per-image results. */
async function runStacked(
  model: LoadedModel,
  images: Pixels[],
  outputs: string[],
  part: boolean,
): Promise<Record<string, TensorLike>[]> {
  const [c, h, w] = (images[0] as Pixels).shape as [number, number, number];
  const plane = c * h * w;
  const data = new Float32Array(plane * images.length);
  images.forEach((px, i) => {
    data.set(px.pixelValues, i * plane);
  });
  const out = await model.runner.run(
    { pixel_values: { type: 'float32', data, dims: [images.length, c, h, w] } },
    { outputs, part },
  );
  // Cut the stacked outputs back into per-image results.
  return images.map((_, i) => {
    const part: Record<string, TensorLike> = {};
    for (const [name, t] of Object.entries(out)) {
      const rows = t.dims[0] ?? 1;
      const per = t.data.length / rows;
      part[name] = {
        type: t.type,
        data: t.data.subarray(i * per, (i + 1) * per) as TensorLike['data'],
        dims: [1, ...t.dims.slice(1)],
      };
    }
    return part;
  });
}

/** A float32 output of a run, with its dims. */
export function floatTensor(
  out: Record<string, TensorLike>,
  name: string,
): { data: Float32Array; dims: number[] } {
  const t = out[name];
  if (t === undefined || t.type !== 'float32') {
    throw new HfTasksError('ERR_MODEL_RUN', `the model returned no float32 ${name}`);
  }
  return { data: t.data as Float32Array, dims: t.dims };
}

/** A probability-like parameter in [0, 1]. */
export function unitParam(params: Record<string, unknown>, name: string, fallback: number): number {
  if (!has(params, name) || params[name] === null) return fallback;
  const v = params[name];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new InvalidParameterError(name, `\`${name}\` must be a number (got ${describeValue(v)})`);
  }
  if (v < 0 || v > 1) throw new InvalidParameterError(name, `\`${name}\` must be between 0 and 1 (got ${v})`);
  return v;
}

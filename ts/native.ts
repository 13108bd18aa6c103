/**
 * The only importer of the compiled addon. Every native function is re-exported through
 * `wrap`, which turns native errors into typed `NativeError`s with the addon's `code`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Addon from '../native/index.js';
import { fromNative, NativeError } from './errors.js';

type AddonModule = typeof Addon;

function platformTriple(): string {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
      ?.header?.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function loadAddon(): AddonModule {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const require = createRequire(import.meta.url);
  const file = path.join(here, '..', 'native', `hf-tasks.${platformTriple()}.node`);
  try {
    return require(file) as AddonModule;
  } catch (err) {
    throw new Error(
      `hf-tasks: cannot load the native addon ${file}; run \`npm run build:native\` (needs a Rust toolchain)`,
      { cause: err },
    );
  }
}

function wrap<F extends (...args: never[]) => unknown>(fn: F): F {
  return ((...args: Parameters<F>) => {
    try {
      return fn(...args);
    } catch (err) {
      throw fromNative(err);
    }
  }) as F;
}

const ASYNC_CODE = /^(ERR_[A-Z_]+): ([\s\S]*)$/;

/** For thread-pool calls: they reject with `"<CODE>: <message>"`, turned back into a coded error. */
function wrapAsync<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    let pending: Promise<R>;
    try {
      pending = fn(...args);
    } catch (err) {
      throw fromNative(err);
    }
    try {
      return await pending;
    } catch (err) {
      const m = err instanceof Error ? ASYNC_CODE.exec(err.message) : null;
      if (m?.[1] !== undefined) throw new NativeError(m[1], m[2] ?? '', { cause: err });
      throw fromNative(err);
    }
  };
}

const addon = loadAddon();

export const applyScores = wrap(addon.applyScores);
export const topK = wrap(addon.topK);
export const qaPMask = wrap(addon.qaPMask);
export const qaDecodeSpan = wrap(addon.qaDecodeSpan);
export const qaAnswerCharSpans = wrap(addon.qaAnswerCharSpans);
export const meanPool = wrap(addon.meanPool);
export const clsPool = wrap(addon.clsPool);
export const lastTokenPool = wrap(addon.lastTokenPool);
export const maxPool = wrap(addon.maxPool);
export const meanSqrtLenPool = wrap(addon.meanSqrtLenPool);
export const weightedMeanPool = wrap(addon.weightedMeanPool);
export const l2Normalize = wrap(addon.l2Normalize);
export const cosineSimilarity = wrap(addon.cosineSimilarity);
export const cosineSimilarityMatrix = wrap(addon.cosineSimilarityMatrix);
export const encodeMaskPng = wrap(addon.encodeMaskPng);
/** Image decoding and Pillow-exact preprocessing, on the libuv thread pool. */
export const decodeImage = wrapAsync(addon.decodeImage);
export const preprocessImage = wrapAsync(addon.preprocessImage);
/** Image processors (resize rule of the family, crop, normalise) and segmentation post-processing. */
export const processImage = wrapAsync(addon.processImage);
export const segmentImage = wrapAsync(addon.segmentImage);
export type {
  NativeDecodedImage,
  NativeDecodeOptions,
  NativeImageSize,
  NativePixelValues,
  NativePreprocessOptions,
  NativeProcessorSpec,
  NativeSegment,
  NativeSegmentOptions,
} from '../native/index.js';
/** Token-classification post-processing; pass the tokenizer's addon object (`Tokenizer.native`). */
export const aggregateTokens = wrap(addon.aggregateTokens);
export type { GroupedEntity, TokenClassificationInput, TokenEntity } from '../native/index.js';

/** The addon's tokenizer class; `ts/tokenizer.ts` wraps it (and translates its errors). */
export const NativeTokenizer = addon.Tokenizer;
export type NativeTokenizer = Addon.Tokenizer;
export type { NativeEncodeOptions, NativeEncoding, NativeSpecialTokens } from '../native/index.js';

/** Decoding kernels (ts/generation/kernels.ts wraps them and translates their errors). */
export const NativeTokenSampler = addon.NativeTokenSampler;
export type NativeTokenSampler = Addon.NativeTokenSampler;
export const NativeBeamSearch = addon.NativeBeamSearch;
export type NativeBeamSearch = Addon.NativeBeamSearch;
export type {
  NativeBeamOutput,
  NativeBeamStep,
  NativeChoice,
  NativeDecodeStream,
  NativeDecodingConfig,
} from '../native/index.js';

// TAPAS: table tokenizer and cell prediction
export const NativeTapasTokenizer = addon.NativeTapasTokenizer;
export type NativeTapasTokenizer = Addon.NativeTapasTokenizer;
export const tapasPredictCoordinates = wrap(addon.tapasPredictCoordinates);
export const tapasPreviousAnswerLabels = wrap(addon.tapasPreviousAnswerLabels);
export const tapasArgmax = wrap(addon.tapasArgmax);

/** Audio decoding (ffmpeg-compatible mono down-mix and resampling) and speech features, on the libuv thread pool. */
export const decodeAudio = wrapAsync(addon.decodeAudio);
export const resampleAudio = wrapAsync(addon.resampleAudio);
export const audioFeatures = wrapAsync(addon.audioFeatures);
export type {
  NativeAudioDecodeOptions,
  NativeAudioFeatureConfig,
  NativeAudioFeatures,
  NativeDecodedAudio,
} from '../native/index.js';

/**
 * Image processors from `preprocessor_config.json`, as transformers' slow (PIL + numpy)
 * processors read it. A type with the `Fast` suffix (`ViTImageProcessorFast`) is served by its
 * slow equivalent: the reference pipeline picks the slow processor unless the config names a
 * fast one, and the slow numerics are the ones reproduced bit for bit.
 *
 * Families: ViT / DeiT / BEiT / SegFormer (exact size, optional center crop), CLIP / BiT /
 * MobileNet V1 and V2 (shortest edge then center crop, the ResNet-style rule), LeViT (shortest
 * edge scaled by 256/224, then center crop), PoolFormer (shortest edge divided by `crop_pct`,
 * then center crop), ConvNeXt (`crop_pct`), EfficientNet (exact size; `rescale_offset` and
 * `include_top`), DETR and Conditional DETR (shortest/longest edge, padding and pixel mask),
 * YOLOS (multiples of 16), RT-DETR (exact size, no normalisation by default; also serves
 * RT-DETR v2 and D-FINE, which the reference processes with the same processor), PVT (exact
 * size), MobileViT (shortest edge, center crop, no normalisation, RGB to BGR), DPT
 * (`keep_aspect_ratio`, `ensure_multiple_of`, centered padding to `size_divisor`), Perceiver
 * (center crop of `size / crop_size` of the shorter side before an exact resize), MaskFormer
 * (shortest/longest edge, sizes rounded up to multiples of `size_divisor`).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ModelError } from '../errors.js';
import type { NativeProcessorSpec } from '../native.js';

/** How a family post-processes (which segmentation subtasks its processor offers). */
export type ProcessorKind = 'classification' | 'detr' | 'yolos' | 'rtdetr' | 'semantic' | 'maskformer';

export interface ImageProcessor {
  /** `image_processor_type` as written in the config. */
  readonly configType: string;
  /** The slow processor that serves it. */
  readonly type: string;
  readonly kind: ProcessorKind;
  /** Settings for `processImage`. */
  readonly spec: NativeProcessorSpec;
  /** The processor pads and returns `pixel_mask` (DETR family). */
  readonly pixelMask: boolean;
  /**
   * How object detection scores queries: `softmax` (DETR, YOLOS: softmax over the classes, the
   * last one "no object", one detection per query in query order), `sigmoid-top-k`
   * (Conditional DETR: a sigmoid per class, the best 100 query-class pairs, best first) or
   * `sigmoid-top-queries` (RT-DETR: the same with as many pairs as the model has queries).
   */
  readonly detection: 'softmax' | 'sigmoid-top-k' | 'sigmoid-top-queries';
}

const IMAGENET_DEFAULT: Norm = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const IMAGENET_STANDARD: Norm = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const OPENAI_CLIP: Norm = {
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
};

interface Norm {
  mean: number[];
  std: number[];
}

type SizeRule = 'square' | 'shortest' | 'detr';

/**
 * A family's own resize arithmetic on `size` (before the image size is known):
 * `levit`: `shortest_edge` becomes `int((256 / 224) * shortest_edge)`; `poolformer`:
 * `int(edge / crop_pct)` (a square `{height, width}` also resizes its shortest edge, a
 * non-square one both sides); `shortest-first`: MobileNet's order (`shortest_edge`, else
 * `{height, width}`), `longest_edge` ignored.
 */
type ResizeArithmetic = 'levit' | 'poolformer' | 'shortest-first';

interface Defaults {
  kind: ProcessorKind;
  size: Record<string, number>;
  /** How an integer `size` reads (transformers' `get_size_dict` per processor). */
  sizeRule: SizeRule;
  resample: number;
  /** Default `crop_size` (square) of a processor that has a center crop. */
  crop?: number;
  /** `do_center_crop`'s default (true unless said). */
  centerCrop?: boolean;
  resize?: ResizeArithmetic;
  /** `crop_pct`'s default (PoolFormer). */
  cropPct?: number;
  /** EfficientNet: `rescale_offset` (default false) and `include_top` (default true). */
  efficientnet?: boolean;
  norm: Norm;
  pixelMask?: boolean;
  convnext?: boolean;
  yolos?: boolean;
  sigmoidDetection?: boolean;
  /**
   * RT-DETR: `do_normalize` false by default; a size must be `{height, width}` or
   * `{shortest_edge, longest_edge}` (an integer reads as a lone shortest edge, which the
   * reference's resize refuses); `do_pad` with a `pad_size` is not served.
   */
  rtdetr?: boolean;
  /** MobileViT: no normalisation step, `do_flip_channel_order` (default true). */
  mobilevit?: boolean;
  /** DPT: `keep_aspect_ratio`, `ensure_multiple_of`, `do_pad` with `size_divisor`. */
  dpt?: boolean;
  /** Perceiver: the center crop comes first and is sized from `size`, `crop_size` and the image. */
  perceiver?: boolean;
  /** MaskFormer's resize: `size_divisor` rounding, `max_size` for an integer size. */
  maskformer?: boolean;
}

/** Constructor defaults of the supported slow processors (transformers 4.57). */
const PROCESSORS: Record<string, Defaults> = {
  ViTImageProcessor: {
    kind: 'classification',
    size: { height: 224, width: 224 },
    sizeRule: 'square',
    resample: 2,
    norm: IMAGENET_STANDARD,
  },
  DeiTImageProcessor: {
    kind: 'classification',
    size: { height: 256, width: 256 },
    sizeRule: 'square',
    resample: 3,
    crop: 224,
    norm: IMAGENET_DEFAULT,
  },
  BeitImageProcessor: {
    kind: 'semantic',
    size: { height: 256, width: 256 },
    sizeRule: 'square',
    resample: 3,
    crop: 224,
    norm: IMAGENET_STANDARD,
  },
  ConvNextImageProcessor: {
    kind: 'classification',
    size: { shortest_edge: 384 },
    sizeRule: 'shortest',
    resample: 2,
    norm: IMAGENET_DEFAULT,
    convnext: true,
  },
  CLIPImageProcessor: {
    kind: 'classification',
    size: { shortest_edge: 224 },
    sizeRule: 'shortest',
    resample: 3,
    crop: 224,
    norm: OPENAI_CLIP,
  },
  MobileNetV1ImageProcessor: {
    kind: 'classification',
    size: { shortest_edge: 256 },
    sizeRule: 'shortest',
    resample: 2,
    crop: 224,
    norm: IMAGENET_STANDARD,
    resize: 'shortest-first',
  },
  MobileNetV2ImageProcessor: {
    kind: 'classification',
    size: { shortest_edge: 256 },
    sizeRule: 'shortest',
    resample: 2,
    crop: 224,
    norm: IMAGENET_STANDARD,
    resize: 'shortest-first',
  },
  LevitImageProcessor: {
    kind: 'classification',
    size: { shortest_edge: 224 },
    sizeRule: 'shortest',
    resample: 3,
    crop: 224,
    norm: IMAGENET_DEFAULT,
    resize: 'levit',
  },
  PoolFormerImageProcessor: {
    kind: 'classification',
    size: { shortest_edge: 224 },
    sizeRule: 'shortest',
    resample: 3,
    crop: 224,
    norm: IMAGENET_DEFAULT,
    resize: 'poolformer',
    cropPct: 0.9,
  },
  EfficientNetImageProcessor: {
    kind: 'classification',
    size: { height: 346, width: 346 },
    sizeRule: 'square',
    resample: 0,
    crop: 289,
    centerCrop: false,
    norm: IMAGENET_STANDARD,
    efficientnet: true,
  },
  BitImageProcessor: {
    kind: 'classification',
    size: { shortest_edge: 224 },
    sizeRule: 'shortest',
    resample: 3,
    crop: 224,
    norm: OPENAI_CLIP,
  },
  PvtImageProcessor: {
    kind: 'classification',
    size: { height: 224, width: 224 },
    sizeRule: 'square',
    resample: 2,
    norm: IMAGENET_DEFAULT,
  },
  MobileViTImageProcessor: {
    kind: 'semantic',
    size: { shortest_edge: 224 },
    sizeRule: 'shortest',
    resample: 2,
    crop: 256,
    norm: IMAGENET_STANDARD,
    resize: 'shortest-first',
    mobilevit: true,
  },
  DPTImageProcessor: {
    kind: 'semantic',
    size: { height: 384, width: 384 },
    sizeRule: 'square',
    resample: 3,
    norm: IMAGENET_STANDARD,
    dpt: true,
  },
  PerceiverImageProcessor: {
    kind: 'classification',
    size: { height: 224, width: 224 },
    sizeRule: 'square',
    resample: 3,
    norm: IMAGENET_DEFAULT,
    perceiver: true,
  },
  SegformerImageProcessor: {
    kind: 'semantic',
    size: { height: 512, width: 512 },
    sizeRule: 'square',
    resample: 2,
    norm: IMAGENET_DEFAULT,
  },
  DetrImageProcessor: {
    kind: 'detr',
    size: { shortest_edge: 800, longest_edge: 1333 },
    sizeRule: 'detr',
    resample: 2,
    norm: IMAGENET_DEFAULT,
    pixelMask: true,
  },
  ConditionalDetrImageProcessor: {
    kind: 'detr',
    size: { shortest_edge: 800, longest_edge: 1333 },
    sizeRule: 'detr',
    resample: 2,
    norm: IMAGENET_DEFAULT,
    pixelMask: true,
    sigmoidDetection: true,
  },
  YolosImageProcessor: {
    kind: 'yolos',
    size: { shortest_edge: 800, longest_edge: 1333 },
    sizeRule: 'detr',
    resample: 2,
    norm: IMAGENET_DEFAULT,
    pixelMask: true,
    yolos: true,
  },
  RTDetrImageProcessor: {
    kind: 'rtdetr',
    size: { height: 640, width: 640 },
    sizeRule: 'detr',
    resample: 2,
    norm: IMAGENET_DEFAULT,
    rtdetr: true,
  },
  MaskFormerImageProcessor: {
    kind: 'maskformer',
    size: { shortest_edge: 800, longest_edge: 1333 },
    sizeRule: 'detr',
    resample: 2,
    norm: IMAGENET_DEFAULT,
    pixelMask: true,
    maskformer: true,
  },
};

/** The processor types `loadImageProcessor` serves (each also with the `Fast` suffix). */
export const SUPPORTED_PROCESSORS: readonly string[] = Object.keys(PROCESSORS);

function bad(file: string, message: string): ModelError {
  return new ModelError('ERR_MODEL_LOAD', `${file}: ${message}`);
}

function positiveInt(v: unknown, file: string, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1 << 20) {
    throw bad(file, `${what} must be a positive integer (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** transformers' `get_size_dict`: an integer or `[h, w]` size turned into the dict form. */
function sizeDict(raw: unknown, rule: SizeRule, maxSize: unknown, file: string): Record<string, number> {
  if (typeof raw === 'number') {
    const n = positiveInt(raw, file, 'size');
    if (rule === 'square') return { height: n, width: n };
    if (rule === 'detr' && typeof maxSize === 'number') return { shortest_edge: n, longest_edge: maxSize };
    return { shortest_edge: n };
  }
  if (Array.isArray(raw) && raw.length === 2) {
    return { height: positiveInt(raw[0], file, 'size[0]'), width: positiveInt(raw[1], file, 'size[1]') };
  }
  if (typeof raw === 'object' && raw !== null) {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (v === null || v === undefined) continue;
      out[k] = positiveInt(v, file, `size.${k}`);
    }
    return out;
  }
  throw bad(file, `size must be an integer or an object (got ${JSON.stringify(raw)})`);
}

function norm(raw: unknown, fallback: number[], file: string, what: string): number[] {
  if (raw === undefined || raw === null) return fallback;
  const list = typeof raw === 'number' ? [raw, raw, raw] : raw;
  if (!Array.isArray(list) || (list.length !== 1 && list.length !== 3) || !list.every(Number.isFinite)) {
    throw bad(file, `${what} must be a number or a list of 1 or 3 numbers`);
  }
  return list as number[];
}

/**
 * A `do_*` switch: absent is the processor's default; `null` is `None` on the reference
 * processor, which its `if` reads as false.
 */
function flag(raw: unknown, fallback: boolean): boolean {
  if (raw === null) return false;
  return typeof raw === 'boolean' ? raw : fallback;
}

/** A boolean setting; `null` becomes `None` on the reference processor, which its `if` reads as false. */
function strictFlag(raw: unknown, fallback: boolean, file: string, what: string): boolean {
  if (raw === undefined) return fallback;
  if (raw === null) return false;
  if (typeof raw !== 'boolean') throw bad(file, `${what} must be a boolean (got ${JSON.stringify(raw)})`);
  return raw;
}

/** A resize edge computed from the config (Python `int()` of a positive float). */
function edge(v: number, file: string, what: string): number {
  const n = Math.trunc(v);
  if (!(n >= 1 && n <= 1 << 20)) throw bad(file, `${what} gives a resize edge of ${v}`);
  return n;
}

/**
 * The resize of MobileNet, LeViT and PoolFormer, as their `resize` methods compute it from the
 * size dict, in their order (`shortest_edge` first, then `{height, width}`; `longest_edge` is
 * never a cap for them). The arithmetic is float64, as in Python.
 */
function familyResize(
  rule: ResizeArithmetic,
  size: Record<string, number>,
  cfg: Record<string, unknown>,
  defaults: Defaults,
  type: string,
  file: string,
): Partial<NativeProcessorSpec> {
  const { height, width, shortest_edge: shortest } = size;
  const hasHw = height !== undefined && width !== undefined;
  if (shortest === undefined && !hasHw) {
    throw bad(
      file,
      `size ${JSON.stringify(cfg.size)} is not supported by ${type} (shortest_edge or height and width)`,
    );
  }
  if (rule === 'shortest-first') {
    return shortest !== undefined
      ? { resizeMode: 'shortest_edge', shortestEdge: shortest }
      : { resizeMode: 'exact', height, width };
  }
  if (rule === 'levit') {
    // `int((256 / 224) * size["shortest_edge"])`, in this order of operations.
    return shortest !== undefined
      ? {
          resizeMode: 'shortest_edge',
          shortestEdge: edge((256 / 224) * shortest, file, 'size.shortest_edge'),
        }
      : { resizeMode: 'exact', height, width };
  }
  // PoolFormer: `crop_pct` (default 0.9; null turns the scaling off).
  const raw = cfg.crop_pct === undefined ? defaults.cropPct : cfg.crop_pct;
  if (raw === null || raw === undefined) {
    return shortest !== undefined
      ? { resizeMode: 'shortest_edge', shortestEdge: shortest }
      : { resizeMode: 'exact', height, width };
  }
  if (typeof raw !== 'number' || !Number.isFinite(raw) || !(raw > 0)) {
    throw bad(file, `crop_pct must be a positive number or null (got ${JSON.stringify(raw)})`);
  }
  if (shortest !== undefined) {
    return { resizeMode: 'shortest_edge', shortestEdge: edge(shortest / raw, file, 'size / crop_pct') };
  }
  const h = edge((height as number) / raw, file, 'size.height / crop_pct');
  // A square size resizes the shortest edge (an int `scale_size`); otherwise both sides.
  if (height === width) return { resizeMode: 'shortest_edge', shortestEdge: h };
  return {
    resizeMode: 'exact',
    height: h,
    width: edge((width as number) / raw, file, 'size.width / crop_pct'),
  };
}

/**
 * MaskFormer's resize (`MaskFormerImageProcessor.resize`): `{shortest_edge, longest_edge}` (an
 * integer size is the shortest edge, `max_size`, 1333 by default, the longest) or `{height,
 * width}`, then both sides rounded up to a multiple of `size_divisor` (32 by default; 0 turns
 * it off). The legacy `size_divisibility` key is dropped by the reference, as here. A
 * `pad_size` pads every image to one size, which is not reproduced: such a config is refused.
 */
function maskformerResize(cfg: Record<string, unknown>, file: string): Partial<NativeProcessorSpec> {
  const rawDivisor = cfg.size_divisor === undefined ? 32 : cfg.size_divisor;
  if (
    typeof rawDivisor !== 'number' ||
    !Number.isInteger(rawDivisor) ||
    rawDivisor < 0 ||
    rawDivisor > 1 << 20
  ) {
    throw bad(file, `size_divisor must be a non-negative integer (got ${JSON.stringify(rawDivisor)})`);
  }
  const divisor = rawDivisor;
  if (cfg.pad_size !== undefined && cfg.pad_size !== null) {
    throw bad(file, 'pad_size (padding every image to one size) is not supported');
  }
  const maxSize = cfg.max_size === undefined || cfg.max_size === null ? 1333 : cfg.max_size;
  const size =
    cfg.size === undefined || cfg.size === null
      ? { shortest_edge: 800, longest_edge: positiveInt(maxSize, file, 'max_size') }
      : sizeDict(
          cfg.size,
          'detr',
          typeof cfg.size === 'number' ? positiveInt(maxSize, file, 'max_size') : undefined,
          file,
        );
  const { height, width, shortest_edge: shortest, longest_edge: longest } = size;
  if (shortest !== undefined && longest !== undefined) {
    if (longest <= shortest) {
      throw bad(
        file,
        `max_size = ${longest} must be strictly greater than the requested size for the smaller edge size = ${shortest}`,
      );
    }
    return { resizeMode: 'maskformer', shortestEdge: shortest, longestEdge: longest, resizeDivisor: divisor };
  }
  if (height !== undefined && width !== undefined) {
    const up = (v: number) => (divisor > 0 ? Math.ceil(v / divisor) * divisor : v);
    return { resizeMode: 'exact', height: up(height), width: up(width) };
  }
  throw bad(
    file,
    `size ${JSON.stringify(cfg.size)} is not supported by MaskFormerImageProcessor (shortest_edge and longest_edge, or height and width)`,
  );
}

/** Reads `preprocessor_config.json` of a model folder. */
export function loadImageProcessor(dir: string): ImageProcessor {
  const file = path.join(dir, 'preprocessor_config.json');
  if (!existsSync(file)) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${dir} has no preprocessor_config.json (vision models need their image processor config)`,
    );
  }
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw bad(file, `invalid JSON (${(err as Error).message})`);
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg))
    throw bad(file, 'must hold a JSON object');
  const rawType = cfg.image_processor_type ?? cfg.feature_extractor_type;
  const configType = typeof rawType === 'string' ? rawType : '';
  let type = configType.endsWith('Fast') ? configType.slice(0, -4) : configType;
  // Feature extractors are the former names of the same processors.
  type = type.replace(/FeatureExtractor$/, 'ImageProcessor');
  const defaults = PROCESSORS[type];
  if (defaults === undefined) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `${file}: image processor ${JSON.stringify(configType)} is not supported (supported: ${SUPPORTED_PROCESSORS.join(', ')}, each also as ...Fast)`,
    );
  }
  const spec: NativeProcessorSpec = {};
  if (flag(cfg.do_resize, true)) {
    const size =
      cfg.size === undefined || cfg.size === null
        ? defaults.size
        : sizeDict(cfg.size, defaults.sizeRule, defaults.rtdetr ? undefined : cfg.max_size, file);
    const { height, width, shortest_edge: shortest, longest_edge: longest } = size;
    if (defaults.rtdetr && (height === undefined || width === undefined) && longest === undefined) {
      throw bad(
        file,
        `size ${JSON.stringify(cfg.size)} is not supported by ${type} (height and width, or shortest_edge and longest_edge)`,
      );
    }
    if (defaults.maskformer) {
      Object.assign(spec, maskformerResize(cfg, file));
    } else if (defaults.resize !== undefined) {
      Object.assign(spec, familyResize(defaults.resize, size, cfg, defaults, type, file));
    } else if (defaults.dpt) {
      if (height === undefined || width === undefined) {
        throw bad(
          file,
          `DPTImageProcessor size must hold height and width (got ${JSON.stringify(cfg.size)})`,
        );
      }
      const multiple = cfg.ensure_multiple_of ?? 1;
      Object.assign(spec, {
        resizeMode: 'dpt',
        height,
        width,
        keepAspectRatio: strictFlag(cfg.keep_aspect_ratio, false, file, 'keep_aspect_ratio'),
        ensureMultipleOf: positiveInt(multiple, file, 'ensure_multiple_of'),
      });
    } else if (defaults.convnext) {
      if (shortest === undefined) throw bad(file, 'ConvNeXt size must hold shortest_edge');
      const cropPct = cfg.crop_pct ?? 224 / 256;
      if (typeof cropPct !== 'number' || !(cropPct > 0))
        throw bad(file, 'crop_pct must be a positive number');
      Object.assign(spec, { resizeMode: 'convnext', shortestEdge: shortest, cropPct });
    } else if (height !== undefined && width !== undefined) {
      Object.assign(spec, { resizeMode: 'exact', height, width });
    } else if (shortest !== undefined && defaults.sizeRule === 'detr') {
      Object.assign(spec, {
        resizeMode: defaults.yolos ? 'yolos' : 'detr',
        shortestEdge: shortest,
        ...(longest !== undefined && { longestEdge: longest }),
      });
    } else if (shortest !== undefined && defaults.sizeRule === 'shortest') {
      // CLIP and BiT resize the shortest edge only: `longest_edge` is not a cap for them.
      Object.assign(spec, { resizeMode: 'shortest_edge', shortestEdge: shortest });
    } else {
      throw bad(file, `size ${JSON.stringify(cfg.size)} is not supported by ${type}`);
    }
  }
  const resample = cfg.resample ?? defaults.resample;
  if (typeof resample !== 'number' || !Number.isInteger(resample) || resample < 0 || resample > 5) {
    throw bad(file, `resample must be a Pillow filter code 0..5 (got ${JSON.stringify(resample)})`);
  }
  spec.resample = resample;
  if (defaults.crop !== undefined && flag(cfg.do_center_crop, defaults.centerCrop ?? true)) {
    const raw = cfg.crop_size ?? defaults.crop;
    const crop = sizeDict(raw, 'square', undefined, file);
    if (crop.height === undefined || crop.width === undefined)
      throw bad(file, 'crop_size must hold height and width');
    spec.centerCrop = { width: crop.width, height: crop.height };
  }
  if (defaults.perceiver && flag(cfg.do_center_crop, true)) {
    // Sized from `size` whether or not the resize runs.
    const size =
      cfg.size === undefined || cfg.size === null
        ? defaults.size
        : sizeDict(cfg.size, 'square', undefined, file);
    const crop = sizeDict(cfg.crop_size ?? 256, 'square', undefined, file);
    if (size.height === undefined || size.width === undefined)
      throw bad(file, 'PerceiverImageProcessor size must hold height and width');
    if (crop.height === undefined || crop.width === undefined)
      throw bad(file, 'crop_size must hold height and width');
    spec.preCrop = {
      sizeHeight: size.height,
      sizeWidth: size.width,
      cropHeight: crop.height,
      cropWidth: crop.width,
    };
  }
  if (flag(cfg.do_rescale, true)) {
    const factor = cfg.rescale_factor ?? 1 / 255;
    if (typeof factor !== 'number' || !Number.isFinite(factor))
      throw bad(file, 'rescale_factor must be a number');
    spec.rescaleFactor = factor;
    // EfficientNet's rescale subtracts 1 afterwards when asked ([0, 2] -> [-1, 1] with 1/127.5).
    if (defaults.efficientnet && strictFlag(cfg.rescale_offset, false, file, 'rescale_offset')) {
      spec.rescaleOffset = true;
    }
  }
  if (defaults.rtdetr && flag(cfg.do_pad, false) && cfg.pad_size !== undefined && cfg.pad_size !== null) {
    throw bad(file, `do_pad with a pad_size is not supported by ${type}`);
  }
  if (defaults.mobilevit) {
    // No normalisation step; the channel flip comes last.
    if (flag(cfg.do_flip_channel_order, true)) spec.flipChannelOrder = true;
  } else if (flag(cfg.do_normalize, defaults.rtdetr !== true)) {
    spec.imageMean = norm(cfg.image_mean, defaults.norm.mean, file, 'image_mean');
    spec.imageStd = norm(cfg.image_std, defaults.norm.std, file, 'image_std');
  }
  if (defaults.dpt && flag(cfg.do_pad, false)) {
    if (cfg.size_divisor === undefined || cfg.size_divisor === null) {
      throw bad(file, 'do_pad needs a size_divisor (the reference fails on None)');
    }
    spec.sizeDivisor = positiveInt(cfg.size_divisor, file, 'size_divisor');
  }
  // EfficientNet's `include_top`: a second normalisation with mean 0 and the same std, whether
  // or not the first one ran.
  if (defaults.efficientnet && strictFlag(cfg.include_top, true, file, 'include_top')) {
    spec.extraStd = norm(cfg.image_std, defaults.norm.std, file, 'image_std');
  }
  return {
    configType,
    type,
    kind: defaults.kind,
    spec,
    pixelMask: defaults.pixelMask === true,
    detection: defaults.rtdetr
      ? 'sigmoid-top-queries'
      : defaults.sigmoidDetection === true
        ? 'sigmoid-top-k'
        : 'softmax',
  };
}

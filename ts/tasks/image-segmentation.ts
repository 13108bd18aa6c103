/**
 * Image segmentation (`image-segmentation`): task contract section 14.
 *
 * - DETR-family processors (DetrForSegmentation): `panoptic` (default), `instance` and
 *   `semantic`, from class logits and mask logits (`compute_segments`: score-weighted,
 *   bilinearly upsampled mask probabilities; a query keeps the pixels it wins when that area
 *   over its thresholded area is above `overlap_mask_area_threshold`);
 * - MaskFormer (MaskFormerForInstanceSegmentation: `class_queries_logits` +
 *   `masks_queries_logits`): `panoptic` (default) and `semantic` as DETR's; `instance` is
 *   MaskFormer's own (the best `num_queries` query-class pairs in torch's `topk` order, binary
 *   masks `logits > 0` upsampled by nearest neighbour, scores times the mean mask probability,
 *   `score >= threshold`, later segments drawn over earlier ones);
 * - semantic processors (SegFormer, BEiT, MobileViT, DPT): `semantic` only (upsampled logits, per-pixel argmax,
 *   one segment per class present, `score: null`).
 *
 * Masks are 8-bit grayscale PNGs (255 inside), base64, at the oriented image size.
 */
import { InvalidParameterError, ModelError } from '../errors.js';
import { segmentImage } from '../native.js';
import type { ImageSegmentationOutput, ImageSegmentationSubtask } from '../types/vision.js';
import { loadImageProcessor } from '../vision/processor.js';
import {
  floatTensor,
  imageList,
  preprocessAll,
  resolveVisionOptions,
  runImages,
  unitParam,
} from '../vision/run.js';
import { describeValue, has, parametersObject } from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

const ORDER: readonly ImageSegmentationSubtask[] = ['panoptic', 'instance', 'semantic'];

/** Python's `round(x, 6)` on a float32 score (exact-value rounding, as `toFixed`). */
function round6(v: number): number {
  return Number(v.toFixed(6));
}

function create(ctx: TaskContext): TaskRun {
  const { model } = ctx;
  const processor = loadImageProcessor(model.dir);
  const arch = model.config.architectures[0] ?? model.config.modelType ?? 'this model';
  let supported: readonly ImageSegmentationSubtask[];
  // Output names of the class and mask logits of the query-based families.
  const queryOutputs =
    processor.kind === 'maskformer'
      ? (['class_queries_logits', 'masks_queries_logits'] as const)
      : (['logits', 'pred_masks'] as const);
  if (processor.kind === 'detr' || processor.kind === 'maskformer') {
    supported = ORDER;
    for (const name of queryOutputs) {
      if (!model.runner.outputNames.includes(name)) {
        throw new ModelError(
          'ERR_MODEL_LOAD',
          `image-segmentation with ${processor.type} needs a model with a ${name} output (${model.id})`,
        );
      }
    }
  } else if (processor.kind === 'semantic') {
    supported = ['semantic'];
  } else {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `image-segmentation needs a segmentation image processor (DetrImageProcessor, MaskFormerImageProcessor, SegformerImageProcessor, BeitImageProcessor, MobileViTImageProcessor, DPTImageProcessor); ${model.id} has ${processor.configType || 'none'}`,
    );
  }
  const vision = resolveVisionOptions(ctx.options.vision);
  const id2label = (id: number) => model.config.id2label.get(id) ?? `LABEL_${id}`;
  return async (inputs, parameters) => {
    const params = parametersObject(parameters);
    let subtask: ImageSegmentationSubtask | undefined;
    if (has(params, 'subtask') && params.subtask !== null) {
      const v = params.subtask;
      if (typeof v !== 'string') {
        throw new InvalidParameterError('subtask', `\`subtask\` must be a string (got ${describeValue(v)})`);
      }
      const found = supported.find((s) => s === v);
      if (found === undefined)
        throw new InvalidParameterError('subtask', `Subtask ${v} is not supported for model ${arch}`);
      subtask = found;
    }
    const chosen = subtask ?? (supported[0] as ImageSegmentationSubtask);
    const threshold = unitParam(params, 'threshold', 0.9);
    const maskThreshold = unitParam(params, 'mask_threshold', 0.5);
    const overlap = unitParam(params, 'overlap_mask_area_threshold', 0.5);
    const { items, single } = imageList(inputs);
    const images = await preprocessAll(items, processor, vision);
    const queries = processor.kind === 'detr' || processor.kind === 'maskformer';
    const outputs = queries ? [...queryOutputs] : ['logits'];
    const outs = await runImages(model, images, outputs);
    const results = await Promise.all(
      outs.map(async (out, i): Promise<ImageSegmentationOutput> => {
        const image = images[i];
        const outHeight = image?.originalHeight ?? 0;
        const outWidth = image?.originalWidth ?? 0;
        const common = { outHeight, outWidth, maxPixels: vision.maxPixels };
        if (queries) {
          const logits = floatTensor(out, queryOutputs[0]);
          const masks = floatTensor(out, queryOutputs[1]);
          const [, queries = 0, classesPlusOne = 0] = logits.dims;
          const [, , height = 0, width = 0] = masks.dims;
          const segments = await segmentImage(masks.data, logits.data, {
            mode: processor.kind === 'maskformer' && chosen === 'instance' ? 'maskformer_instance' : chosen,
            planes: queries,
            classesPlusOne,
            height,
            width,
            threshold,
            maskThreshold,
            overlapMaskAreaThreshold: overlap,
            ...common,
          });
          return segments.map((s) => ({
            score:
              s.score === undefined || s.score === null || chosen === 'semantic' ? null : round6(s.score),
            label: id2label(s.labelId),
            mask: s.mask,
          }));
        }
        const logits = floatTensor(out, 'logits');
        const [, classes = 0, height = 0, width = 0] = logits.dims;
        const segments = await segmentImage(logits.data, undefined, {
          mode: 'semantic_logits',
          planes: classes,
          height,
          width,
          ...common,
        });
        return segments.map((s) => ({ score: null, label: id2label(s.labelId), mask: s.mask }));
      }),
    );
    return single ? results[0] : results;
  };
}

const imageSegmentation: TaskDefinition = { create };
export default imageSegmentation;

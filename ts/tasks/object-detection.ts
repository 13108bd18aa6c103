/**
 * Object detection (`object-detection`): task contract section 13, DETR-family
 * post-processing (DETR, Conditional DETR's processor, YOLOS): softmax over the classes, the
 * no-object class dropped before the max, detections with a score strictly above `threshold`
 * (default 0.5), boxes from (cx, cy, w, h) to corners scaled by the oriented image size in
 * float32 and truncated toward zero, in query order.
 */
import { ModelError } from '../errors.js';
import type { ObjectDetectionOutput } from '../types/vision.js';
import { loadImageProcessor } from '../vision/processor.js';
import {
  floatTensor,
  imageList,
  preprocessAll,
  resolveVisionOptions,
  runImages,
  unitParam,
} from '../vision/run.js';
import { parametersObject } from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

const f32 = Math.fround;

/** `softmax(row)` in float32 (max-shifted, as torch). */
function softmax(row: Float32Array): Float32Array {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of row) if (v > max) max = v;
  const out = new Float32Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp(f32((row[i] as number) - max));
    sum = f32(sum + (out[i] as number));
  }
  for (let i = 0; i < out.length; i++) out[i] = f32((out[i] as number) / sum);
  return out;
}

function create(ctx: TaskContext): TaskRun {
  const { model } = ctx;
  const processor = loadImageProcessor(model.dir);
  if (processor.kind !== 'detr' && processor.kind !== 'yolos') {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `object-detection needs a DETR-family image processor (DetrImageProcessor, ConditionalDetrImageProcessor, YolosImageProcessor); ${model.id} has ${processor.configType || 'none'}`,
    );
  }
  for (const name of ['logits', 'pred_boxes']) {
    if (!model.runner.outputNames.includes(name)) {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `object-detection needs a model with a ${name} output (${model.id})`,
      );
    }
  }
  const vision = resolveVisionOptions(ctx.options.vision);
  return async (inputs, parameters) => {
    const params = parametersObject(parameters);
    const threshold = unitParam(params, 'threshold', 0.5);
    const { items, single } = imageList(inputs);
    const images = await preprocessAll(items, processor, vision);
    const outs = await runImages(model, images, ['logits', 'pred_boxes']);
    const results: ObjectDetectionOutput[] = outs.map((out, i) => {
      const logits = floatTensor(out, 'logits');
      const boxes = floatTensor(out, 'pred_boxes');
      const [, queries = 0, classes = 0] = logits.dims;
      if (classes < 2 || boxes.data.length !== queries * 4) {
        throw new ModelError(
          'ERR_MODEL_RUN',
          `unexpected detection outputs [${logits.dims}] and [${boxes.dims}]`,
        );
      }
      const image = images[i];
      const w = f32(image?.originalWidth ?? 0);
      const h = f32(image?.originalHeight ?? 0);
      const found: ObjectDetectionOutput = [];
      for (let q = 0; q < queries; q++) {
        const probs = softmax(logits.data.subarray(q * classes, (q + 1) * classes));
        let label = 0;
        for (let c = 1; c < classes - 1; c++) if ((probs[c] as number) > (probs[label] as number)) label = c;
        const score = probs[label] as number;
        if (!(score > threshold)) continue;
        const [cx, cy, bw, bh] = boxes.data.subarray(q * 4, q * 4 + 4) as unknown as [
          number,
          number,
          number,
          number,
        ];
        const corners = [
          f32(cx - f32(0.5 * bw)),
          f32(cy - f32(0.5 * bh)),
          f32(cx + f32(0.5 * bw)),
          f32(cy + f32(0.5 * bh)),
        ] as const;
        const scaled = [f32(corners[0] * w), f32(corners[1] * h), f32(corners[2] * w), f32(corners[3] * h)];
        const [xmin, ymin, xmax, ymax] = scaled.map((v) => Math.trunc(v) | 0) as [
          number,
          number,
          number,
          number,
        ];
        found.push({
          score,
          label: model.config.id2label.get(label) ?? `LABEL_${label}`,
          box: { xmin, ymin, xmax, ymax },
        });
      }
      return found;
    });
    return single ? results[0] : results;
  };
}

const objectDetection: TaskDefinition = { create };
export default objectDetection;

/**
 * Object detection (`object-detection`): task contract section 13, DETR-family
 * post-processing. DETR and YOLOS: softmax over the classes, the no-object class dropped before
 * the max, one detection per query, in query order. Conditional DETR: a sigmoid per class and
 * the best 100 query-class pairs, best first. RT-DETR (v1, v2, D-FINE): the same with as many
 * pairs as the model has queries. Then detections with a score strictly above
 * `threshold` (default 0.5), boxes from (cx, cy, w, h) to corners scaled by the oriented image
 * size in float32 and truncated toward zero.
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

/** One detection before its box: the query it comes from, its class and its score. */
interface Pick {
  query: number;
  label: number;
  score: number;
}

/** DETR, YOLOS: per query, the best class after a softmax, the last class ("no object") left out. */
function softmaxPerQuery(logits: Float32Array, queries: number, classes: number, threshold: number): Pick[] {
  const picks: Pick[] = [];
  for (let q = 0; q < queries; q++) {
    const probs = softmax(logits.subarray(q * classes, (q + 1) * classes));
    let label = 0;
    for (let c = 1; c < classes - 1; c++) if ((probs[c] as number) > (probs[label] as number)) label = c;
    const score = probs[label] as number;
    if (score > threshold) picks.push({ query: q, label, score });
  }
  return picks;
}

/** How many query-class pairs Conditional DETR's post-processing keeps before the threshold. */
const TOP_K = 100;

/**
 * Conditional DETR: a sigmoid per class (no "no object" class), the best `k` (`TOP_K`) of all
 * query-class pairs, best first, then those above the threshold. A query may give several labels.
 * RT-DETR keeps the best `queries` pairs instead.
 */
function sigmoidTopK(
  logits: Float32Array,
  queries: number,
  classes: number,
  threshold: number,
  k = TOP_K,
): Pick[] {
  const n = queries * classes;
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) scores[i] = f32(1 / f32(1 + f32(Math.exp(-(logits[i] as number)))));
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  const picks: Pick[] = [];
  for (const i of order.slice(0, Math.min(k, n))) {
    const score = scores[i] as number;
    if (score > threshold) picks.push({ query: Math.floor(i / classes), label: i % classes, score });
  }
  return picks;
}

/** Query `q`'s (cx, cy, w, h) box as corners on the oriented image, in float32, truncated. */
function cornerBox(
  boxes: Float32Array,
  q: number,
  w: number,
  h: number,
): ObjectDetectionOutput[number]['box'] {
  const [cx, cy, bw, bh] = boxes.subarray(q * 4, q * 4 + 4) as unknown as [number, number, number, number];
  const corners = [
    f32(cx - f32(0.5 * bw)),
    f32(cy - f32(0.5 * bh)),
    f32(cx + f32(0.5 * bw)),
    f32(cy + f32(0.5 * bh)),
  ] as const;
  const [xmin, ymin, xmax, ymax] = [
    f32(corners[0] * w),
    f32(corners[1] * h),
    f32(corners[2] * w),
    f32(corners[3] * h),
  ].map((v) => Math.trunc(v) | 0) as [number, number, number, number];
  return { xmin, ymin, xmax, ymax };
}

function create(ctx: TaskContext): TaskRun {
  const { model } = ctx;
  const processor = loadImageProcessor(model.dir);
  if (processor.kind !== 'detr' && processor.kind !== 'yolos' && processor.kind !== 'rtdetr') {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `object-detection needs a DETR-family image processor (DetrImageProcessor, ConditionalDetrImageProcessor, YolosImageProcessor, RTDetrImageProcessor); ${model.id} has ${processor.configType || 'none'}`,
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
      // Softmax scoring needs a real class besides "no object"; sigmoid scoring needs one class.
      const minClasses = processor.detection === 'softmax' ? 2 : 1;
      if (classes < minClasses || boxes.data.length !== queries * 4) {
        throw new ModelError(
          'ERR_MODEL_RUN',
          `unexpected detection outputs [${logits.dims}] and [${boxes.dims}]`,
        );
      }
      const image = images[i];
      const w = f32(image?.originalWidth ?? 0);
      const h = f32(image?.originalHeight ?? 0);
      const picks =
        processor.detection === 'softmax'
          ? softmaxPerQuery(logits.data, queries, classes, threshold)
          : sigmoidTopK(
              logits.data,
              queries,
              classes,
              threshold,
              processor.detection === 'sigmoid-top-queries' ? queries : TOP_K,
            );
      const found: ObjectDetectionOutput = picks.map(({ query, label, score }) => ({
        score,
        label: model.config.id2label.get(label) ?? `LABEL_${label}`,
        box: cornerBox(boxes.data, query, w, h),
      }));
      return found;
    });
    return single ? results[0] : results;
  };
}

const objectDetection: TaskDefinition = { create };
export default objectDetection;

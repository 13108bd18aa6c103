/**
 * Image classification (`image-classification`): task contract section 12. The model's image
 * processor prepares each image; scores are the softmax or sigmoid the config implies (or
 * `function_to_apply`), sorted descending (stable), the first `top_k` (default 5, at most the
 * number of labels).
 */
import { applyScores } from '../native.js';
import type { ImageClassificationOutput } from '../types/vision.js';
import { loadImageProcessor } from '../vision/processor.js';
import { floatTensor, imageList, preprocessAll, resolveVisionOptions, runImages } from '../vision/run.js';
import { logitsName } from './encode.js';
import { checkInt, enumParam, has, parametersObject } from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

const FUNCTIONS = ['sigmoid', 'softmax', 'none'] as const;
type ScoreFunction = (typeof FUNCTIONS)[number];

/**
 * The reference's default: sigmoid for multi-label or one label, softmax for single-label or
 * several labels, else the config's `function_to_apply`, else none.
 */
export function defaultImageFunction(ctx: TaskContext): ScoreFunction {
  const { problemType, numLabels, functionToApply } = ctx.model.config;
  if (problemType === 'multi_label_classification' || numLabels === 1) return 'sigmoid';
  if (problemType === 'single_label_classification' || numLabels > 1) return 'softmax';
  return FUNCTIONS.find((f) => f === functionToApply?.toLowerCase()) ?? 'none';
}

/** Python `list[:k]`. */
function pySliceHead<T>(list: T[], k: number): T[] {
  return k >= 0 ? list.slice(0, k) : list.slice(0, Math.max(0, list.length + k));
}

function create(ctx: TaskContext): TaskRun {
  const { model } = ctx;
  const processor = loadImageProcessor(model.dir);
  const vision = resolveVisionOptions(ctx.options.vision);
  const logits = logitsName(model);
  const numLabels = model.config.numLabels;
  return async (inputs, parameters) => {
    const params = parametersObject(parameters);
    const fn = enumParam(params, 'function_to_apply', FUNCTIONS, undefined) ?? defaultImageFunction(ctx);
    let topK = has(params, 'top_k') && params.top_k !== null ? checkInt('top_k', params.top_k) : 5;
    if (topK > numLabels) topK = numLabels;
    const { items, single } = imageList(inputs);
    const images = await preprocessAll(items, processor, vision);
    const outs = await runImages(model, images, [logits]);
    const results: ImageClassificationOutput[] = outs.map((out) => {
      const { data } = floatTensor(out, logits);
      if (data.length !== numLabels) {
        throw new Error(`the model's ${logits} has ${data.length} values, expected ${numLabels} labels`);
      }
      const scores = applyScores(data, 1, numLabels, fn);
      const row = Array.from({ length: numLabels }, (_, j) => ({
        label: model.config.id2label.get(j) ?? `LABEL_${j}`,
        score: scores[j] as number,
      }));
      // Array.prototype.sort is stable: ties keep label-id order, as Python's sort.
      row.sort((a, b) => b.score - a.score);
      return pySliceHead(row, topK);
    });
    return single ? results[0] : results;
  };
}

const imageClassification: TaskDefinition = { create };
export default imageClassification;

/**
 * Audio classification (`audio-classification`): task contract section 11. Decode / resample
 * as speech recognition does, extract features, run the classifier, apply
 * `function_to_apply` (softmax by default, also when null) and keep the `top_k` best labels
 * (every label by default, at most num_labels), best first.
 */
import { audioFeeds, checkInputLength, loadFeatureExtractor } from '../audio/features.js';
import { audioOptionsOf, loadAudioInputs } from '../audio/run.js';
import { InvalidParameterError } from '../errors.js';
import { applyScores } from '../native.js';
import type { AudioClassificationOutput, AudioClassificationOutputTransform } from '../types/audio.js';
import { floatOutput, logitsName } from './encode.js';
import { checkInt, describeValue, has, parametersObject } from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

const FUNCTIONS = [
  'softmax',
  'sigmoid',
  'none',
] as const satisfies readonly AudioClassificationOutputTransform[];

function create(ctx: TaskContext): TaskRun {
  const { model } = ctx;
  const fe = loadFeatureExtractor(model);
  const logits = logitsName(model);
  const numLabels = model.config.numLabels;
  const audioOptions = audioOptionsOf(ctx);
  return async (inputs, parameters) => {
    const params = parametersObject(parameters);
    let topK = numLabels;
    if (has(params, 'top_k') && params.top_k !== null) {
      topK = Math.min(checkInt('top_k', params.top_k, { min: 0 }), numLabels);
    }
    let fn: AudioClassificationOutputTransform = 'softmax';
    if (has(params, 'function_to_apply') && params.function_to_apply !== null) {
      const v = params.function_to_apply;
      const found = FUNCTIONS.find((f) => f === v);
      if (found === undefined) {
        throw new InvalidParameterError(
          'function_to_apply',
          `Invalid value for \`function_to_apply\`: ${describeValue(v)}. Valid options are ['softmax', 'sigmoid', 'none']`,
        );
      }
      fn = found;
    }
    const { items, single } = await loadAudioInputs(inputs, fe.samplingRate, audioOptions, {
      refuseFor: 'AudioClassificationPipeline',
    });
    const results: AudioClassificationOutput[] = [];
    for (const audio of items) {
      checkInputLength(model, fe, audio.samples.length);
      const feeds = await audioFeeds(fe, audio.samples, model.runner.inputNames);
      const out = await model.runner.run(feeds, { outputs: [logits] });
      const raw = floatOutput(out, logits, [1, numLabels]);
      const scores = applyScores(raw, 1, numLabels, fn);
      const row: AudioClassificationOutput = [];
      for (let j = 0; j < numLabels; j++) {
        row.push({ score: scores[j] as number, label: model.config.id2label.get(j) ?? `LABEL_${j}` });
      }
      // Stable: ties keep label-id order (torch.topk leaves tie order unspecified).
      row.sort((a, b) => b.score - a.score);
      results.push(row.slice(0, topK));
    }
    return single ? results[0] : results;
  };
}

const audioClassification: TaskDefinition = { create };
export default audioClassification;

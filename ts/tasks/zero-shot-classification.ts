/**
 * Zero-shot classification (`zero-shot-classification`): task contract section 5. Each
 * candidate label becomes an NLI hypothesis paired with the sequence; the entailment logits
 * rank the labels.
 */
import { HfTasksError } from '../errors.js';
import { applyScores } from '../native.js';
import type { BatchEncoding } from '../tokenizer.js';
import type {
  ZeroShotClassificationLegacyOutput,
  ZeroShotClassificationOutput,
} from '../types/zero-shot-classification.js';
import { runRows } from './chunked-run.js';
import { checkSequenceLength, floatOutput, logitsName, modelMaxLength } from './encode.js';
import {
  batchOf,
  boolParam,
  describeValue,
  has,
  invalidInput,
  parametersObject,
  stringParam,
  textInput,
} from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';
import { pyFormat, pyStrip } from './text.js';

export const DEFAULT_HYPOTHESIS_TEMPLATE = 'This example is {}.';
const NEED_LABELS = 'You must include at least one label and at least one sequence.';

/** The index of the entailment logit: the first `label2id` entry (file order) starting with "entail". */
export function entailmentIndex(label2id: Array<[string, number]>): number {
  for (const [label, id] of label2id) {
    if (label.toLowerCase().startsWith('entail')) return id;
  }
  return -1;
}

function candidateLabels(params: Record<string, unknown>): string[] {
  if (!has(params, 'candidate_labels')) throw invalidInput(NEED_LABELS);
  const v = params.candidate_labels;
  if (typeof v === 'string') {
    return textInput(v, 'candidate_labels')
      .split(',')
      .map(pyStrip)
      .filter((s) => s.length > 0);
  }
  if (!Array.isArray(v)) {
    throw invalidInput(
      `\`candidate_labels\` must be a list of strings or a string (got ${describeValue(v)})`,
    );
  }
  return v.map((x, i) => textInput(x, `candidate_labels[${i}]`));
}

/** Stable ascending argsort, then reversed (numpy `argsort()[::-1]` on small arrays). */
function argsortReversed(values: Float32Array): number[] {
  const idx = [...values.keys()];
  idx.sort((a, b) => (values[a] as number) - (values[b] as number));
  return idx.reverse();
}

function create(ctx: TaskContext): TaskRun {
  const { model, options } = ctx;
  const logits = logitsName(model);
  const nli = model.config.numLabels;
  const entail = entailmentIndex(model.config.label2id);
  // A negative index counts from the end, as numpy indexing does.
  const entailCol = entail < 0 ? nli + entail : entail;
  const contraCol = entail === 0 ? nli - 1 : 0;
  if (entailCol < 0 || entailCol >= nli || nli < 2) {
    throw new HfTasksError(
      'ERR_MODEL_LOAD',
      `model ${model.id} is not an NLI classifier (it has ${nli} labels; zero-shot needs entailment and contradiction logits)`,
    );
  }
  const maxLength = modelMaxLength(model);

  const encodePairs = async (pairs: Array<[string, string]>): Promise<BatchEncoding> => {
    if (maxLength === null)
      return model.tokenizer.encodeBatch(pairs, { padding: 'longest', paddingSide: 'right' });
    try {
      return await model.tokenizer.encodeBatch(pairs, {
        padding: 'longest',
        paddingSide: 'right',
        truncation: 'only_first',
        maxLength,
      });
    } catch (err) {
      // The hypothesis alone is longer than the window: the reference retries without truncation.
      if ((err as { code?: string }).code !== 'ERR_TOKENIZE') throw err;
      return model.tokenizer.encodeBatch(pairs, { padding: 'longest', paddingSide: 'right' });
    }
  };

  /** Entailment scores of one sequence's `n` labels from its rows of logits. */
  const score = (raw: Float32Array, n: number, multiLabel: boolean): Float32Array => {
    if (multiLabel || n === 1) {
      // Per label: softmax over [contradiction, entailment]; keep the entailment probability.
      const pairs = new Float32Array(n * 2);
      for (let i = 0; i < n; i++) {
        pairs[2 * i] = raw[i * nli + contraCol] as number;
        pairs[2 * i + 1] = raw[i * nli + entailCol] as number;
      }
      const probs = applyScores(pairs, n, 2, 'softmax');
      const scores = new Float32Array(n);
      for (let i = 0; i < n; i++) scores[i] = probs[2 * i + 1] as number;
      return scores;
    }
    // Softmax of the entailment logits across the labels.
    const entailLogits = new Float32Array(n);
    for (let i = 0; i < n; i++) entailLogits[i] = raw[i * nli + entailCol] as number;
    return applyScores(entailLogits, 1, n, 'softmax');
  };

  /** Classifies every sequence with one network run over all (sequence, hypothesis) pairs. */
  const classify = async (
    sequences: string[],
    labels: string[],
    template: string,
    multiLabel: boolean,
  ): Promise<ZeroShotClassificationOutput[]> => {
    if (labels.length === 0 || sequences.some((s) => s.length === 0)) throw invalidInput(NEED_LABELS);
    const hypotheses = labels.map((label) => pyFormat(template, label));
    if (hypotheses[0] === template) {
      throw invalidInput(
        `The provided hypothesis_template "${template}" was not able to be formatted with the target labels. Make sure the passed template includes formatting syntax such as {} where the label should go.`,
      );
    }
    const n = labels.length;
    const enc = await encodePairs(
      sequences.flatMap((seq) => hypotheses.map((h): [string, string] => [seq, h])),
    );
    // Only when a hypothesis alone overflows the window (truncation then gave up).
    checkSequenceLength(model, enc);
    const out = await runRows(model, enc, [logits]);
    const raw = floatOutput(out, logits, [sequences.length * n, nli]);
    return sequences.map((sequence, k) => {
      const scores = score(raw.subarray(k * n * nli, (k + 1) * n * nli), n, multiLabel);
      const order = argsortReversed(scores);
      const result: ZeroShotClassificationLegacyOutput = {
        sequence,
        labels: order.map((i) => labels[i] as string),
        scores: order.map((i) => scores[i] as number),
      };
      if (options.zeroShotOutput === 'list') {
        return result.labels.map((label, i) => ({ label, score: result.scores[i] as number }));
      }
      return result;
    });
  };

  return async (inputs, parameters) => {
    const params = parametersObject(parameters);
    const labels = candidateLabels(params);
    const template = stringParam(params, 'hypothesis_template', DEFAULT_HYPOTHESIS_TEMPLATE);
    // `multi_class` is the deprecated name of `multi_label`.
    const multiLabel = has(params, 'multi_label')
      ? boolParam(params, 'multi_label', false)
      : boolParam(params, 'multi_class', false);
    const { items, single } = batchOf(inputs, textInput);
    const results = await classify(items, labels, template, multiLabel);
    return single ? results[0] : results;
  };
}

const zeroShotClassification: TaskDefinition = { create };
export default zeroShotClassification;

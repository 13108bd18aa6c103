/**
 * Text classification (`text-classification`, alias `sentiment-analysis`): task contract
 * section 2. Single texts and `{text, text_pair}` pairs; all labels sorted by score unless
 * `top_k` slices them.
 */
import { applyScores } from '../native.js';
import type {
  TextClassificationOutput,
  TextClassificationOutputTransform,
  TextClassificationPair,
} from '../types/text-classification.js';
import { runRows } from './chunked-run.js';
import { checkSequenceLength, floatOutput, logitsName, modelMaxLength } from './encode.js';
import {
  batchOf,
  boolParam,
  checkInt,
  describeValue,
  enumParam,
  has,
  invalidInput,
  parametersObject,
  textInput,
} from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

const FUNCTIONS = [
  'sigmoid',
  'softmax',
  'none',
] as const satisfies readonly TextClassificationOutputTransform[];

const PAIR_HINT =
  'The pipeline received invalid inputs, if you are trying to send text pairs, you can try to send a dictionary `{"text": "My text", "text_pair": "My pair"}` in order to send a text pair.';

type Item = string | [string, string];

function parseItem(v: unknown, name: string): Item {
  if (typeof v === 'string') return textInput(v, name);
  if (Array.isArray(v)) {
    // Backward-compatible form: [[text, text_pair]].
    const inner = v[0];
    if (v.length === 1 && Array.isArray(inner) && inner.length === 2) {
      return [textInput(inner[0], `${name}[0][0]`), textInput(inner[1], `${name}[0][1]`)];
    }
    throw invalidInput(PAIR_HINT);
  }
  if (typeof v === 'object' && v !== null) {
    const obj = v as Record<string, unknown>;
    const extra = Object.keys(obj).filter((k) => k !== 'text' && k !== 'text_pair');
    if (extra.length > 0) {
      throw invalidInput(`\`${name}\` may only hold \`text\` and \`text_pair\` (got ${extra.join(', ')})`);
    }
    const text = textInput(obj.text, `${name}.text`);
    if (obj.text_pair === undefined || obj.text_pair === null) return text;
    const pair = textInput(obj.text_pair, `${name}.text_pair`);
    // The reference tokenizer encodes a single text when the pair is empty (`if text_pair`).
    return pair === '' ? text : [text, pair];
  }
  throw invalidInput(`\`${name}\` must be a string or {text, text_pair} (got ${describeValue(v)})`);
}

/** The score function the model config implies when the caller sends none (spec 2.2). */
export function defaultFunction(ctx: TaskContext): TextClassificationOutputTransform {
  const { problemType, numLabels, functionToApply } = ctx.model.config;
  if (problemType === 'regression') return 'none';
  if (problemType === 'multi_label_classification' || numLabels === 1) return 'sigmoid';
  if (problemType === 'single_label_classification' || numLabels > 1) return 'softmax';
  const fromConfig = FUNCTIONS.find((f) => f === functionToApply?.toLowerCase());
  return fromConfig ?? 'none';
}

const TRUNCATIONS = ['longest_first', 'only_first', 'only_second'] as const;

/**
 * The tokenizer `truncation` parameter the reference forwards: absent/false keeps whole inputs
 * (too long -> 400), true means `longest_first`, or a strategy name.
 */
function truncationParam(params: Record<string, unknown>): false | (typeof TRUNCATIONS)[number] {
  if (!has(params, 'truncation')) return false;
  const v = params.truncation;
  if (typeof v === 'boolean') return v ? 'longest_first' : false;
  return enumParam(params, 'truncation', TRUNCATIONS, 'longest_first');
}

/** Truncation length: the model's limit (`modelMaxLength`), when it has one. */
function maxLengthFor(model: TaskContext['model']): { maxLength?: number } {
  const limit = modelMaxLength(model);
  return limit === null ? {} : { maxLength: limit };
}

function optionalBool(params: Record<string, unknown>, name: string): boolean | undefined {
  return has(params, name) ? boolParam(params, name, false) : undefined;
}

/** Python `list[:k]`. */
function pySliceHead<T>(list: T[], k: number): T[] {
  return k >= 0 ? list.slice(0, k) : list.slice(0, Math.max(0, list.length + k));
}

function create(ctx: TaskContext): TaskRun {
  const { model } = ctx;
  const logits = logitsName(model);
  const numLabels = model.config.numLabels;
  return async (inputs, parameters) => {
    const params = parametersObject(parameters);
    const fn = enumParam(params, 'function_to_apply', FUNCTIONS, undefined) ?? defaultFunction(ctx);
    // Absent or null: every label; an integer: the first k after sorting.
    const topK = has(params, 'top_k') && params.top_k !== null ? checkInt('top_k', params.top_k) : null;
    // Deprecated `return_all_scores` (only without top_k): true -> every label in label-id
    // order, false -> the best label alone.
    const returnAllScores = has(params, 'top_k') ? undefined : optionalBool(params, 'return_all_scores');
    const truncation = truncationParam(params);

    const { items, single } = batchOf(inputs, parseItem);
    const enc = await model.tokenizer.encodeBatch(items, {
      addSpecialTokens: true,
      padding: 'longest',
      paddingSide: 'right',
      ...(truncation === false ? {} : { truncation, ...maxLengthFor(model) }),
    });
    checkSequenceLength(model, enc);
    const n = enc.dims[0];
    const out = await runRows(model, enc, [logits]);
    const raw = floatOutput(out, logits, [n, numLabels]);
    const scores = applyScores(raw, n, numLabels, fn);

    const results: TextClassificationOutput[] = [];
    for (let r = 0; r < n; r++) {
      const row: TextClassificationOutput = [];
      for (let j = 0; j < numLabels; j++) {
        row.push({
          label: model.config.id2label.get(j) ?? `LABEL_${j}`,
          score: scores[r * numLabels + j] as number,
        });
      }
      if (returnAllScores === true) {
        results.push(row);
        continue;
      }
      // Array.prototype.sort is stable: ties keep label-id order, as Python's sort.
      row.sort((a, b) => b.score - a.score);
      if (returnAllScores === false) results.push(row.slice(0, 1));
      else results.push(topK === null ? row : pySliceHead(row, topK));
    }
    return single ? results[0] : results;
  };
}

const textClassification: TaskDefinition = { create };
export default textClassification;

export type { TextClassificationPair };

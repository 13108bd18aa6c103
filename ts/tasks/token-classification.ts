/**
 * Token classification (`token-classification`, alias `ner`): task contract section 1.
 * Tokenize with offsets (windows over long texts when `stride` is set), run the network on all
 * windows at once, and let the native aggregation kernel build, group, filter and merge the
 * entities.
 */
import { HfTasksError } from '../errors.js';
import { aggregateTokens } from '../native.js';
import type { BatchEncoding } from '../tokenizer.js';
import type {
  TokenClassificationAggregationStrategy,
  TokenClassificationOutput,
  TokenClassificationOutputElement,
} from '../types/token-classification.js';
import { floatOutput, logitsName, textFeeds } from './encode.js';
import {
  batchOf,
  enumParam,
  intParam,
  invalidInput,
  parametersObject,
  stringListParam,
  textInput,
} from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';
import { utf16Offsets } from './text.js';

const STRATEGIES = [
  'none',
  'simple',
  'first',
  'average',
  'max',
] as const satisfies readonly TokenClassificationAggregationStrategy[];

/** The Inference API's default (the Python pipeline's is `none`). */
export const DEFAULT_AGGREGATION_STRATEGY: TokenClassificationAggregationStrategy = 'simple';

function create(ctx: TaskContext): TaskRun {
  const { model, options } = ctx;
  const { tokenizer } = model;
  const logits = logitsName(model);
  const numLabels = model.config.numLabels;
  const id2label = Array.from({ length: numLabels }, (_, i) => model.config.id2label.get(i) ?? `LABEL_${i}`);
  const maxLength = tokenizer.modelMaxLength;

  const classify = async (
    text: string,
    strategy: TokenClassificationAggregationStrategy,
    ignoreLabels: string[],
    stride: number | undefined,
  ): Promise<TokenClassificationOutput> => {
    let enc: BatchEncoding;
    try {
      enc = await tokenizer.encodeBatch([text], {
        addSpecialTokens: true,
        // Texts past the window are cut unless `stride` asks for overlapping windows.
        truncation: maxLength === null ? false : 'longest_first',
        ...(stride === undefined ? {} : { stride, returnOverflowing: true, padding: 'longest' as const }),
      });
    } catch (err) {
      // A stride that leaves no room for new tokens once the special tokens are counted.
      if (stride !== undefined && err instanceof HfTasksError && err.code === 'ERR_TOKENIZE') {
        throw invalidInput(`\`stride\` is too large for this tokenizer: ${err.message}`);
      }
      throw err;
    }
    const [windows, seq] = enc.dims;
    const out = await model.runner.run(textFeeds(model, enc), { outputs: [logits] });
    const raw = floatOutput(out, logits, [windows, seq, numLabels]);
    const entities = aggregateTokens(tokenizer.native, {
      text,
      logits: raw,
      windows,
      seq,
      labels: numLabels,
      inputIds: enc.inputIds,
      specialTokensMask: enc.specialTokensMask,
      offsets: enc.offsets,
      id2label,
      aggregationStrategy: strategy,
      ignoreLabels,
    }) as TokenClassificationOutputElement[];
    if (options.offsets === 'utf16') {
      const toUtf16 = utf16Offsets(text);
      for (const e of entities) {
        if (e.start !== null) e.start = toUtf16(e.start);
        if (e.end !== null) e.end = toUtf16(e.end);
      }
    }
    return entities;
  };

  return async (inputs, parameters) => {
    const params = parametersObject(parameters);
    const strategy = enumParam(params, 'aggregation_strategy', STRATEGIES, DEFAULT_AGGREGATION_STRATEGY);
    const ignoreLabels = stringListParam(params, 'ignore_labels', ['O']);
    const stride = intParam(params, 'stride', undefined, { min: 0 });
    if (stride !== undefined) {
      if (maxLength !== null && stride >= maxLength) {
        throw invalidInput(
          '`stride` must be less than `tokenizer.model_max_length` (or even lower if the tokenizer adds special tokens)',
        );
      }
      if (strategy === 'none') {
        throw invalidInput(
          '`stride` was provided to process all the text but `aggregation_strategy="AggregationStrategy.NONE"`, please select another one instead.',
        );
      }
    }
    const { items, single } = batchOf(inputs, textInput);
    const results: TokenClassificationOutput[] = [];
    for (const text of items) results.push(await classify(text, strategy, ignoreLabels, stride));
    return single ? results[0] : results;
  };
}

const tokenClassification: TaskDefinition = { create };
export default tokenClassification;

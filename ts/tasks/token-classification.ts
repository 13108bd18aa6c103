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
import { runRows } from './chunked-run.js';
import { checkSequenceLength, floatOutput, logitsName, modelMaxLength } from './encode.js';
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
  // The tokenizer's model_max_length, else the position table's size.
  const maxLength = modelMaxLength(model);

  /**
   * Classifies `texts` with one network run over every row (all texts, all their windows).
   * Rows are padded on the right, except that stride windows keep the tokenizer's side as the
   * reference pads them (then several texts are not mixed, so each text's padding matches).
   */
  const classify = async (
    texts: string[],
    strategy: TokenClassificationAggregationStrategy,
    ignoreLabels: string[],
    stride: number | undefined,
  ): Promise<TokenClassificationOutput[]> => {
    if (stride !== undefined && tokenizer.paddingSide === 'left' && texts.length > 1) {
      const out: TokenClassificationOutput[] = [];
      for (const text of texts) out.push(...(await classify([text], strategy, ignoreLabels, stride)));
      return out;
    }
    let enc: BatchEncoding;
    try {
      enc = await tokenizer.encodeBatch(texts, {
        addSpecialTokens: true,
        // Texts past the window are cut unless `stride` asks for overlapping windows.
        ...(maxLength === null ? { truncation: false } : { truncation: 'longest_first' as const, maxLength }),
        padding: 'longest',
        paddingSide: stride === undefined ? 'right' : tokenizer.paddingSide,
        ...(stride === undefined ? {} : { stride, returnOverflowing: true }),
      });
    } catch (err) {
      // A stride that leaves no room for new tokens once the special tokens are counted.
      if (stride !== undefined && err instanceof HfTasksError && err.code === 'ERR_TOKENIZE') {
        throw invalidInput(`\`stride\` is too large for this tokenizer: ${err.message}`);
      }
      throw err;
    }
    // Only a model that states no limit at all leaves rows uncut.
    checkSequenceLength(model, enc);
    const [rows, seq] = enc.dims;
    const out = await runRows(model, enc, [logits]);
    const raw = floatOutput(out, logits, [rows, seq, numLabels]);
    const results: TokenClassificationOutput[] = [];
    let first = 0;
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i] as string;
      // This text's rows: its windows are consecutive (overflowToSampleMapping is ordered).
      let last = first;
      while (last < rows && (stride === undefined ? last === i : enc.overflowToSampleMapping[last] === i))
        last++;
      const entities = aggregateTokens(tokenizer.native, {
        text,
        logits: raw.subarray(first * seq * numLabels, last * seq * numLabels),
        windows: last - first,
        seq,
        labels: numLabels,
        inputIds: enc.inputIds.subarray(first * seq, last * seq),
        specialTokensMask: enc.specialTokensMask.subarray(first * seq, last * seq),
        offsets: enc.offsets.subarray(first * seq * 2, last * seq * 2),
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
      results.push(entities);
      first = last;
    }
    return results;
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
    const results = await classify(items, strategy, ignoreLabels, stride);
    return single ? results[0] : results;
  };
}

const tokenClassification: TaskDefinition = { create };
export default tokenClassification;

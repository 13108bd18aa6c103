/**
 * Feature extraction (`feature-extraction`): task contract sections 6.2-6.4.
 * Sentence-transformers models (modules.json) return pooled sentence embeddings (`[dim]` per
 * string); other models return their last hidden state (`[1][tokens][hidden]` per string), as
 * the transformers pipeline does. The TEI parameters `normalize`, `truncate`,
 * `truncation_direction` and `prompt_name` are honoured.
 */
import type { LoadedModel } from '../runtime/model.js';
import type { FeatureExtractionBatchOutput, FeatureExtractionOutput } from '../types/feature-extraction.js';
import { runRows } from './chunked-run.js';
import { floatOutput, maxModelTokens, modelMaxLength } from './encode.js';
import {
  batchOf,
  boolParam,
  enumParam,
  has,
  invalidInput,
  parametersObject,
  stringParam,
  textInput,
} from './params.js';
import {
  type EmbedOptions,
  hiddenStatesName,
  inputTooLong,
  type SentenceEncoder,
  sentenceEncoder,
} from './sentence-embedding.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

const DIRECTIONS = ['Right', 'Left'] as const;

/** The call parameters, validated. */
export function embedOptions(params: Record<string, unknown>): EmbedOptions {
  // Absent: the tokenizer's own `truncation_side`.
  const direction = enumParam(params, 'truncation_direction', DIRECTIONS, undefined);
  return {
    normalize: has(params, 'normalize') ? boolParam(params, 'normalize', true) : undefined,
    truncate: has(params, 'truncate') ? boolParam(params, 'truncate', false) : undefined,
    truncationDirection: direction === undefined ? undefined : direction === 'Left' ? 'left' : 'right',
    promptName: stringParam(params, 'prompt_name', undefined),
  };
}

/**
 * Rows of a `[n * dim]` buffer as nested arrays. A plain loop into preallocated arrays: about 9×
 * faster than `Array.from` on typed-array views (0.9 against 7.7 ms for the 220 x 768 hidden
 * states of one long text), which matters when the output is every token's state.
 */
function rowsOf(values: Float32Array, n: number, dim: number): number[][] {
  const out: number[][] = new Array(n);
  for (let r = 0; r < n; r++) {
    const row: number[] = new Array(dim);
    const at = r * dim;
    for (let k = 0; k < dim; k++) row[k] = values[at + k] as number;
    out[r] = row;
  }
  return out;
}

/** The transformers pipeline: each string's last hidden state, `[1][tokens][hidden]`. */
function hiddenStates(model: LoadedModel) {
  const name = hiddenStatesName(model);
  const limit = maxModelTokens(model);
  const maxLength = modelMaxLength(model);
  return async (texts: string[], options: EmbedOptions): Promise<number[][][][]> => {
    if (options.promptName !== undefined) {
      throw invalidInput(
        `Prompt name '${options.promptName}' not found in the configured prompts dictionary with keys [].`,
      );
    }
    const truncate = options.truncate === true;
    // Every string is run as if alone: unpadded rows are filled on the right, which keeps
    // each string's positions and leaves `lengths` its own token count.
    const enc = await model.tokenizer.encodeBatch(texts, {
      addSpecialTokens: true,
      padding: false,
      truncation: truncate,
      ...(truncate && maxLength !== null ? { maxLength } : {}),
      ...(truncate && options.truncationDirection !== undefined
        ? { truncationSide: options.truncationDirection }
        : {}),
    });
    const [n, len] = enc.dims;
    if (limit !== null) {
      for (let r = 0; r < n; r++) {
        const given = enc.lengths[r] as number;
        if (given > limit) throw inputTooLong(limit, given);
      }
    }
    const out = await runRows(model, enc, [name]);
    const states = floatOutput(out, name, [n, len, -1]);
    const dim = n * len === 0 ? 0 : states.length / (n * len);
    const results: number[][][][] = [];
    for (let r = 0; r < n; r++) {
      const tokens = enc.lengths[r] as number;
      const base = r * len * dim;
      results.push([rowsOf(states.subarray(base, base + tokens * dim), tokens, dim)]);
    }
    return results;
  };
}

function create(ctx: TaskContext): TaskRun {
  const { model } = ctx;
  const encoder: SentenceEncoder | null = model.sentenceTransformers === null ? null : sentenceEncoder(model);
  const raw = encoder === null ? hiddenStates(model) : null;

  return async (inputs, parameters): Promise<FeatureExtractionOutput | FeatureExtractionBatchOutput> => {
    const options = embedOptions(parametersObject(parameters));
    if (Array.isArray(inputs) && inputs.length === 0) return [];
    const { items, single } = batchOf(inputs, textInput);
    if (encoder !== null) {
      const values = await encoder.embed(items, options);
      const dim = values.length / items.length;
      const rows = rowsOf(values, items.length, dim);
      return single ? (rows[0] as number[]) : rows;
    }
    const states = await (raw as NonNullable<typeof raw>)(items, options);
    return single ? (states[0] as number[][][]) : states;
  };
}

const featureExtraction: TaskDefinition = { create };
export default featureExtraction;

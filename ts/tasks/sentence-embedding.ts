/**
 * Sentence embeddings the sentence-transformers way (task contract 6.3), shared by
 * feature-extraction and sentence-similarity: prompt prefix, strip, optional lower-casing,
 * tokenization truncated at `max_seq_length`, one batched run, the Pooling module's modes
 * (concatenated in sentence-transformers' order: cls, max, mean, mean_sqrt_len, weightedmean,
 * lasttoken) and the Normalize module when the model has one. A model folder
 * without modules.json behaves as sentence-transformers loads a plain transformer: mean
 * pooling, no normalisation.
 */
import { InvalidInputError, ModelError } from '../errors.js';
import {
  clsPool,
  l2Normalize,
  lastTokenPool,
  maxPool,
  meanPool,
  meanSqrtLenPool,
  weightedMeanPool,
} from '../native.js';
import type { PoolingMode } from '../runtime/config.js';
import type { LoadedModel } from '../runtime/model.js';
import type { BatchEncoding } from '../tokenizer.js';
import { runRows } from './chunked-run.js';
import { floatOutput, maxModelTokens, modelMaxLength } from './encode.js';
import { invalidInput } from './params.js';
import { applyDense, loadDenseLayer } from './st-dense.js';
import { pyStrip } from './text.js';

/** How one call embeds its texts. */
export interface EmbedOptions {
  /** A key of the model's prompts; its text prefixes every input. */
  promptName?: string | undefined;
  /**
   * `undefined`: the model's own pipeline (Normalize module or not); `true`: L2-normalise the
   * result; `false`: leave out the Normalize module.
   */
  normalize?: boolean | undefined;
  /**
   * `undefined` or `true`: cut inputs at `max_seq_length` (sentence-transformers always does);
   * `false`: an input longer than that is an error (the TEI contract).
   */
  truncate?: boolean | undefined;
  /** Which end `truncate` cuts. Default: the tokenizer's `truncation_side`. */
  truncationDirection?: 'left' | 'right' | undefined;
}

/** The sentence-transformers view of a model, resolved once per pipeline. */
export interface SentenceEncoder {
  /** `[texts.length * dim]` embeddings, row-major. */
  embed(texts: string[], options?: EmbedOptions): Promise<Float32Array>;
}

/** The code of the error raised for inputs longer than the model accepts (HTTP 400/413). */
export const INPUT_TOO_LONG = 'ERR_INPUT_TOO_LONG';

/** The TEI validation message for an input of `given` tokens over a limit of `limit`. */
export function tooLongMessage(limit: number, given: number): string {
  return `Input validation error: \`inputs\` must have less than ${limit} tokens. Given: ${given}`;
}

/** The output holding token hidden states `[batch, seq, hidden]`. */
export function hiddenStatesName(model: LoadedModel): string {
  const names = model.runner.outputNames;
  for (const name of ['last_hidden_state', 'token_embeddings']) if (names.includes(name)) return name;
  const first = names[0];
  if (first === undefined) throw new ModelError('ERR_MODEL_LOAD', `model ${model.id} has no outputs`);
  return first;
}

/** Builds the sentence encoder of a loaded model. */
export function sentenceEncoder(model: LoadedModel): SentenceEncoder {
  const st = model.sentenceTransformers;
  if (st !== null && st.unsupportedModules.length > 0) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${model.id} uses sentence-transformers modules this library does not run: ${st.unsupportedModules.join(', ')}`,
    );
  }
  const modes: PoolingMode[] = st === null ? ['mean'] : (st.pooling?.modes ?? ['mean']);
  if (modes.length === 0) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${model.id}: the Pooling module has no pooling mode switched on`,
    );
  }
  // Dense modules after the Pooling module, in module order (each maps the pooled vector).
  const dense = (st?.modules ?? [])
    .filter((m) => m.type === 'sentence_transformers.models.Dense')
    .sort((a, b) => a.idx - b.idx)
    .map((m) => loadDenseLayer(model.dir, m.path));
  const includePrompt = st?.pooling?.includePrompt ?? true;
  const prompts = st?.prompts ?? {};
  const defaultPromptName = st?.defaultPromptName ?? null;
  const doLowerCase = st?.doLowerCase ?? false;
  const hasNormalize = st?.normalize ?? false;
  // sentence-transformers: max_seq_length, else min(max_position_embeddings, model_max_length);
  // the model's limit here, which also leaves out the padding offset of RoBERTa-like tables.
  const maxSeqLength = st?.maxSeqLength ?? modelMaxLength(model);
  const limit = maxModelTokens(model);
  const hidden = hiddenStatesName(model);
  const poolingDim = st?.pooling?.raw.word_embedding_dimension;
  const hiddenSize = typeof model.config.raw.hidden_size === 'number' ? model.config.raw.hidden_size : null;
  const tokenDim = typeof poolingDim === 'number' ? poolingDim : hiddenSize;

  const prepare = (text: string, prompt: string): string => {
    const s = pyStrip(prompt + text);
    return doLowerCase ? s.toLowerCase() : s;
  };

  const encode = async (texts: string[], options: EmbedOptions): Promise<BatchEncoding> => {
    const truncate = options.truncate !== false && maxSeqLength !== null;
    const enc = await model.tokenizer.encodeBatch(texts, {
      addSpecialTokens: true,
      // Right padding keeps each text's positions those of its unpadded run, whatever the batch.
      padding: 'longest',
      paddingSide: 'right',
      ...(truncate
        ? {
            truncation: 'longest_first' as const,
            maxLength: maxSeqLength as number,
            ...(options.truncationDirection === undefined
              ? {}
              : { truncationSide: options.truncationDirection }),
          }
        : {}),
    });
    const cap = truncate
      ? limit
      : Math.min(maxSeqLength ?? Number.POSITIVE_INFINITY, limit ?? Number.POSITIVE_INFINITY);
    if (cap !== null && Number.isFinite(cap)) {
      const [rows, len] = enc.dims;
      for (let r = 0; r < rows; r++) {
        let given = 0;
        for (let j = r * len; j < (r + 1) * len; j++) if (enc.attentionMask[j] !== 0n) given++;
        if (given > cap) throw inputTooLong(cap, given);
      }
    }
    return enc;
  };

  /** Token count of the prompt as pooling sees it (its trailing special token not counted). */
  const promptLength = async (prompt: string): Promise<number> => {
    const enc = await model.tokenizer.encodeBatch([prepare('', prompt)], { addSpecialTokens: true });
    let n = enc.lengths[0] as number;
    if (n > 0 && enc.specialTokensMask[n - 1] === 1) n--;
    return n;
  };

  const embed = async (texts: string[], options: EmbedOptions = {}): Promise<Float32Array> => {
    let prompt = '';
    if (options.promptName !== undefined) {
      const p = prompts[options.promptName];
      if (p === undefined) {
        throw invalidInput(
          `Prompt name '${options.promptName}' not found in the configured prompts dictionary with keys [${Object.keys(
            prompts,
          )
            .map((k) => `'${k}'`)
            .join(', ')}].`,
        );
      }
      prompt = p;
    } else if (defaultPromptName !== null) {
      prompt = prompts[defaultPromptName] ?? '';
    }
    if (texts.length === 0) return new Float32Array(0);
    const enc = await encode(
      texts.map((t) => prepare(t, prompt)),
      options,
    );
    const [n, len] = enc.dims;
    const out = await runRows(model, enc, [hidden]);
    const states = floatOutput(out, hidden, [n, len, -1]);
    const d = len === 0 ? 0 : states.length / (n * len);
    if (tokenDim !== null && d !== tokenDim) {
      throw new ModelError(
        'ERR_MODEL_RUN',
        `model ${model.id} returned token vectors of size ${d}, expected ${tokenDim}`,
      );
    }
    let mask = enc.attentionMask;
    if (!includePrompt && prompt.length > 0) {
      // Prompt tokens take no part in pooling.
      const skip = await promptLength(prompt);
      mask = mask.slice();
      for (let r = 0; r < n; r++) mask.fill(0n, r * len, r * len + Math.min(skip, len));
    }
    const parts = modes.map((mode) => {
      switch (mode) {
        case 'cls':
          return clsPool(states, n, len, d);
        case 'max':
          return maxPool(states, n, len, d, mask);
        case 'lasttoken':
          return lastTokenPool(states, n, len, d, mask);
        case 'mean_sqrt_len':
          return meanSqrtLenPool(states, n, len, d, mask);
        case 'weightedmean':
          return weightedMeanPool(states, n, len, d, mask);
        default:
          return meanPool(states, n, len, d, mask);
      }
    });
    let pooled: Float32Array;
    let dim = d;
    if (parts.length === 1) {
      pooled = parts[0] as Float32Array;
    } else {
      dim = d * parts.length;
      pooled = new Float32Array(n * dim);
      for (let r = 0; r < n; r++) {
        parts.forEach((p, i) => {
          pooled.set(p.subarray(r * d, (r + 1) * d), r * dim + i * d);
        });
      }
    }
    for (const layer of dense) {
      pooled = applyDense(pooled, n, layer);
      dim = layer.outFeatures;
    }
    const normalize = options.normalize ?? hasNormalize;
    return normalize ? l2Normalize(pooled, n, dim) : pooled;
  };

  return { embed };
}

/** The error for an input of `given` tokens over a limit of `limit`. */
export function inputTooLong(limit: number, given: number): InvalidInputError {
  return new InvalidInputError(INPUT_TOO_LONG, tooLongMessage(limit, given));
}

/**
 * From tokenizer output to model feeds, shared by the text tasks.
 */
import { ModelError } from '../errors.js';
import type { LoadedModel } from '../runtime/model.js';
import type { TensorLike } from '../runtime/runner.js';
import type { BatchEncoding } from '../tokenizer.js';
import { invalidInput } from './params.js';

/**
 * The feeds the model's graph asks for, from a padded batch encoding (`[n, len]`).
 * `token_type_ids` is zeros when the tokenizer produced none.
 */
function cannotFeed(model: LoadedModel, name: string): ModelError {
  return new ModelError(
    'ERR_MODEL_LOAD',
    `model ${model.id} takes an input ${name} that a text pipeline cannot provide (expected input_ids, attention_mask, token_type_ids, position_ids)`,
  );
}

export function textFeeds(model: LoadedModel, enc: BatchEncoding): Record<string, TensorLike> {
  const dims = [enc.dims[0], enc.dims[1]];
  const feeds: Record<string, TensorLike> = {};
  for (const name of model.runner.inputNames) {
    switch (name) {
      case 'input_ids':
        feeds[name] = { type: 'int64', data: enc.inputIds, dims };
        break;
      case 'attention_mask':
        feeds[name] = { type: 'int64', data: enc.attentionMask, dims };
        break;
      case 'token_type_ids':
        feeds[name] = {
          type: 'int64',
          data:
            enc.tokenTypeIds.length === enc.inputIds.length
              ? enc.tokenTypeIds
              : new BigInt64Array(enc.inputIds.length),
          dims,
        };
        break;
      case 'position_ids':
        // As the model counts them when it is given none (0, 1, ... along each row); the rows
        // of a text pipeline are right-padded, so every real token keeps its own position.
        // Models whose positions start past the pad id (RoBERTa) count another way: refused.
        if (model.config.positionOffset === 0) {
          const [rows = 0, len = 0] = dims;
          const data = new BigInt64Array(rows * len);
          for (let r = 0; r < rows; r++) for (let j = 0; j < len; j++) data[r * len + j] = BigInt(j);
          feeds[name] = { type: 'int64', data, dims };
          break;
        }
        throw cannotFeed(model, name);
      default:
        throw cannotFeed(model, name);
    }
  }
  return feeds;
}

/**
 * The longest token sequence the model's position table accepts, or null when config.json
 * does not bound it (see `ModelConfig.maxPositions`).
 */
export function maxModelTokens(model: LoadedModel): number | null {
  return model.config.maxPositions;
}

/**
 * The length limit the tasks truncate to and cut stride windows at (their `model_max_length`):
 * the tokenizer's `model_max_length` when it states one (missing or the `int(1e30)` "no limit"
 * sentinel state none), capped by the position table; else the position table's size
 * (`max_position_embeddings`, less the padding offset of RoBERTa-like models). Null when
 * neither says.
 */
export function modelMaxLength(model: LoadedModel): number | null {
  const stated = model.tokenizer.modelMaxLength;
  const positions = maxModelTokens(model);
  if (stated === null) return positions;
  return positions === null ? stated : Math.min(stated, positions);
}

/**
 * Rejects a batch whose longest sequence exceeds the position table: the network would fail
 * with an index error. `what` names the task for the message.
 */
export function checkSequenceLength(model: LoadedModel, enc: BatchEncoding, row?: number): void {
  const limit = maxModelTokens(model);
  if (limit === null) return;
  const [n, len] = enc.dims;
  for (let r = row ?? 0; r < (row === undefined ? n : row + 1); r++) {
    let count = 0;
    for (let j = 0; j < len; j++) if (enc.attentionMask[r * len + j] !== 0n) count++;
    if (count > limit) {
      throw invalidInput(
        `Input is too long: ${count} tokens, but this model accepts at most ${limit} tokens per sequence.`,
      );
    }
  }
}

/** The `[rows, cols]` float32 output `name` of a run, checked against the expected shape. */
export function floatOutput(
  outputs: Record<string, TensorLike>,
  name: string,
  expectedDims: number[],
): Float32Array {
  const t = outputs[name];
  if (t === undefined || t.type !== 'float32') {
    throw new ModelError('ERR_MODEL_RUN', `the model returned no float32 ${name}`);
  }
  if (
    t.dims.length !== expectedDims.length ||
    t.dims.some((d, i) => expectedDims[i] !== -1 && d !== expectedDims[i])
  ) {
    throw new ModelError(
      'ERR_MODEL_RUN',
      `the model's ${name} has shape [${t.dims.join(', ')}], expected [${expectedDims.map((d) => (d < 0 ? '?' : d)).join(', ')}]`,
    );
  }
  return t.data as Float32Array;
}

/** The name of the logits output: `logits` when the graph has it, else its first output. */
export function logitsName(model: LoadedModel): string {
  const names = model.runner.outputNames;
  if (names.includes('logits')) return 'logits';
  const first = names[0];
  if (first === undefined) throw new ModelError('ERR_MODEL_LOAD', `model ${model.id} has no outputs`);
  return first;
}

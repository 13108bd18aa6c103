/**
 * Fill-mask (`fill-mask`): task contract section 3. Every mask token of the input gets its own
 * full-vocabulary softmax and top-k candidates; `targets` restricts the candidates.
 */
import { ModelError } from '../errors.js';
import { applyScores, topK as nativeTopK } from '../native.js';
import type { FillMaskOutputElement } from '../types/fill-mask.js';
import { runRows } from './chunked-run.js';
import { checkSequenceLength, floatOutput, logitsName } from './encode.js';
import {
  batchOf,
  describeValue,
  has,
  intParam,
  invalidInput,
  parametersObject,
  textInput,
} from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

export const DEFAULT_TOP_K = 5;

function create(ctx: TaskContext): TaskRun {
  const { model } = ctx;
  const { tokenizer } = model;
  const logits = logitsName(model);
  const maskToken = tokenizer.specialTokens.mask_token;
  const maskId = maskToken === null ? null : tokenizer.tokenToId(maskToken);
  if (maskToken === null || maskId === null) {
    throw new ModelError('ERR_MODEL_LOAD', 'The tokenizer does not define a `mask_token`.');
  }
  const padToken = tokenizer.specialTokens.pad_token;
  const padId = padToken === null ? null : tokenizer.tokenToId(padToken);
  const vocabSize = tokenizer.vocabSize;

  /** Target strings -> vocabulary ids (verbatim lookup, else the first sub-token), de-duplicated. */
  const targetIds = async (targets: string[]): Promise<number[]> => {
    const ids: number[] = [];
    for (const target of targets) {
      let id = tokenizer.tokenToId(target);
      if (id === null) {
        const enc = await tokenizer.encodeBatch([target], { addSpecialTokens: false });
        const len = enc.dims[1];
        if (len === 0 || enc.attentionMask[0] === 0n) continue;
        id = Number(enc.inputIds[0]);
      }
      if (!ids.includes(id)) ids.push(id);
    }
    if (ids.length === 0) throw invalidInput('At least one target must be provided when passed.');
    return ids;
  };

  return async (inputs, parameters) => {
    const params = parametersObject(parameters);
    let topK = intParam(params, 'top_k', DEFAULT_TOP_K, { min: 1 });
    let targets: number[] | null = null;
    if (has(params, 'targets')) {
      const v = params.targets;
      let list: string[];
      if (typeof v === 'string') list = [textInput(v, 'targets')];
      else if (Array.isArray(v)) list = v.map((x, i) => textInput(x, `targets[${i}]`));
      else throw invalidInput(`\`targets\` must be a list of strings or a string (got ${describeValue(v)})`);
      targets = await targetIds(list);
      topK = Math.min(topK, targets.length);
    }
    const k = Math.min(topK, vocabSize);

    const { items, single } = batchOf(inputs, textInput);
    const enc = await tokenizer.encodeBatch(items, {
      addSpecialTokens: true,
      padding: 'longest',
      paddingSide: 'right',
    });
    const [n, len] = enc.dims;
    const masks: number[][] = [];
    for (let r = 0; r < n; r++) {
      const positions: number[] = [];
      for (let j = 0; j < len; j++) {
        if (enc.attentionMask[r * len + j] !== 0n && Number(enc.inputIds[r * len + j]) === maskId)
          positions.push(j);
      }
      if (positions.length === 0) throw invalidInput(`No mask_token (${maskToken}) found on the input`);
      masks.push(positions);
    }
    checkSequenceLength(model, enc);
    const out = await runRows(model, enc, [logits]);
    const raw = floatOutput(out, logits, [n, len, -1]);
    const vocab = raw.length / (n * len);

    const results: Array<FillMaskOutputElement[] | FillMaskOutputElement[][]> = [];
    for (let r = 0; r < n; r++) {
      const positions = masks[r] as number[];
      const singleMask = positions.length === 1;
      const perMask: FillMaskOutputElement[][] = [];
      for (const pos of positions) {
        const start = (r * len + pos) * vocab;
        const probs = applyScores(raw.subarray(start, start + vocab), 1, vocab, 'softmax');
        const candidates = targets === null ? probs : Float32Array.from(targets, (id) => probs[id] as number);
        const best = nativeTopK(candidates, Math.min(k, candidates.length));
        const row: FillMaskOutputElement[] = [];
        for (const b of best) {
          const token = targets === null ? b : (targets[b] as number);
          // The input ids with this mask replaced, padding and pad tokens dropped.
          const kept: number[] = [];
          for (let j = 0; j < len; j++) {
            if (enc.attentionMask[r * len + j] === 0n) continue;
            const id = j === pos ? token : Number(enc.inputIds[r * len + j]);
            if (id !== padId) kept.push(id);
          }
          row.push({
            score: candidates[b] as number,
            token,
            token_str: tokenizer.decode([token]),
            sequence: tokenizer.decode(kept, { skip_special_tokens: singleMask }),
          });
        }
        perMask.push(row);
      }
      results.push(singleMask ? (perMask[0] as FillMaskOutputElement[]) : perMask);
    }
    return single ? results[0] : results;
  };
}

const fillMask: TaskDefinition = { create };
export default fillMask;

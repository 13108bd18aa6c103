/**
 * Extractive question answering (`question-answering`): task contract section 4. The context
 * is cut into overlapping windows (question + part of the context), every window is scored in
 * one batch, and each window's best spans become character spans of the context; equal
 * answers from several windows add their scores.
 */
import { InvalidParameterError, ModelError } from '../errors.js';
import { qaAnswerCharSpans, qaDecodeSpan, qaPMask } from '../native.js';
import type { BatchEncoding } from '../tokenizer.js';
import type {
  QuestionAnsweringInputItem,
  QuestionAnsweringOutput,
  QuestionAnsweringOutputElement,
} from '../types/question-answering.js';
import { runRows } from './chunked-run.js';
import { checkSequenceLength, floatOutput, modelMaxLength } from './encode.js';
import {
  batchOf,
  boolParam,
  checkText,
  describeValue,
  has,
  intParam,
  invalidInput,
  parametersObject,
} from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';
import { utf16Offsets } from './text.js';

/** Window length when neither the caller nor the tokenizer sets one. */
const DEFAULT_MAX_SEQ_LEN = 384;
/** The initial "no answer" score: large, so any window's null score replaces it. */
const NULL_SCORE_START = 1000000;

/** Resolved call parameters. */
export interface QaParameters {
  topK: number;
  docStride: number;
  maxAnswerLen: number;
  maxSeqLen: number;
  handleImpossibleAnswer: boolean;
  alignToWords: boolean;
}

/** Validates the call parameters and fills the defaults (spec 4.1). */
export function qaParameters(parameters: unknown, limit: number | null): QaParameters {
  const params = parametersObject(parameters);
  // `topk` is the deprecated name of `top_k`.
  const topKName = !has(params, 'top_k') && has(params, 'topk') ? 'topk' : 'top_k';
  const topK = intParam(params, topKName, 1);
  if (topK < 1) throw new InvalidParameterError(topKName, `top_k parameter should be >= 1 (got ${topK})`);
  const maxAnswerLen = intParam(params, 'max_answer_len', 15);
  if (maxAnswerLen < 1) {
    // The reference message lacks its closing parenthesis; kept verbatim.
    throw new InvalidParameterError(
      'max_answer_len',
      `max_answer_len parameter should be >= 1 (got ${maxAnswerLen}`,
    );
  }
  const maxSeqLen = intParam(
    params,
    'max_seq_len',
    limit === null ? DEFAULT_MAX_SEQ_LEN : Math.min(limit, DEFAULT_MAX_SEQ_LEN),
    { min: 1 },
  );
  const docStride = intParam(params, 'doc_stride', Math.min(Math.floor(maxSeqLen / 2), 128), { min: 0 });
  if (docStride > maxSeqLen) {
    throw new InvalidParameterError(
      'doc_stride',
      `\`doc_stride\` (${docStride}) is larger than \`max_seq_len\` (${maxSeqLen})`,
    );
  }
  // Only slow tokenizers truncate the question; accepted and checked for compatibility.
  intParam(params, 'max_question_len', 64, { min: 1 });
  return {
    topK,
    docStride,
    maxAnswerLen,
    maxSeqLen,
    handleImpossibleAnswer: boolParam(params, 'handle_impossible_answer', false),
    alignToWords: boolParam(params, 'align_to_words', true),
  };
}

const NEED_KEYS = 'You need to provide a dictionary with keys {question:..., context:...}';

/** Validates one `{question, context}` input in the reference's order and wording. */
export function qaInput(v: unknown, name: string): QuestionAnsweringInputItem {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw invalidInput(`\`${name}\` must be an object {question, context} (got ${describeValue(v)})`);
  }
  const obj = v as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const key of ['question', 'context'] as const) {
    if (!Object.hasOwn(obj, key) || obj[key] === undefined) throw invalidInput(NEED_KEYS);
    const value = obj[key];
    if (value === null) throw invalidInput(`\`${key}\` cannot be None`);
    if (typeof value !== 'string') {
      throw invalidInput(`\`${key}\` must be a string (got ${describeValue(value)})`);
    }
    if (value.length === 0) throw invalidInput(`\`${key}\` cannot be empty`);
    out[key] = checkText(`${name}.${key}`, value);
  }
  return { question: out.question as string, context: out.context as string };
}

/** The token range `[from, to)` of row `r` that is attended (the unpadded window). */
function windowRange(enc: BatchEncoding, r: number): [number, number] {
  const len = enc.dims[1];
  let from = -1;
  let to = -1;
  for (let j = 0; j < len; j++) {
    if (enc.attentionMask[r * len + j] !== 0n) {
      if (from < 0) from = j;
      to = j + 1;
    }
  }
  return from < 0 ? [0, 0] : [from, to];
}

function create(ctx: TaskContext): TaskRun {
  const { model, options } = ctx;
  const tokenizer = model.tokenizer;
  // Tokenizers that pad on the left put the context first and truncate it as the first sequence.
  const questionFirst = tokenizer.paddingSide !== 'left';
  const clsTokenId = tokenizer.specialTokens.cls_token_id ?? null;
  for (const name of ['start_logits', 'end_logits']) {
    if (!model.runner.outputNames.includes(name)) {
      throw new ModelError(
        'ERR_MODEL_LOAD',
        `model ${model.id} is not a question-answering model: its graph has no ${name} output (outputs: ${model.runner.outputNames.join(', ')})`,
      );
    }
  }

  const encodeWindows = async (item: QuestionAnsweringInputItem, p: QaParameters): Promise<BatchEncoding> => {
    const pair: [string, string] = questionFirst
      ? [item.question, item.context]
      : [item.context, item.question];
    try {
      return await tokenizer.encodeBatch([pair], {
        addSpecialTokens: true,
        truncation: questionFirst ? 'only_second' : 'only_first',
        maxLength: p.maxSeqLen,
        stride: p.docStride,
        returnOverflowing: true,
        // Padding on the right keeps every window's positions those of its unpadded run.
        padding: 'longest',
        paddingSide: 'right',
        offsets: 'code_points',
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      // Truncation and stride failures mean the question leaves no room; other errors (a
      // tokenizer that cannot pad, say) keep their own message.
      if (code === 'ERR_TOKENIZE') {
        throw invalidInput(
          `The question does not leave room for the context in a window of max_seq_len=${p.maxSeqLen} tokens with doc_stride=${p.docStride}: shorten the question, raise max_seq_len or lower doc_stride (${(err as Error).message})`,
        );
      }
      throw err;
    }
  };

  const answer = async (
    item: QuestionAnsweringInputItem,
    p: QaParameters,
  ): Promise<QuestionAnsweringOutput> => {
    const enc = await encodeWindows(item, p);
    checkSequenceLength(model, enc);
    const [n, len] = enc.dims;
    const out = await runRows(model, enc, ['start_logits', 'end_logits']);
    const startLogits = floatOutput(out, 'start_logits', [n, len]);
    const endLogits = floatOutput(out, 'end_logits', [n, len]);

    const context = item.context;
    const toUtf16 = utf16Offsets(context);
    const slice = (start: number, end: number) => context.slice(toUtf16(start), toUtf16(end));
    // Candidates lost to word alignment are made up for by asking for more per window.
    const preTopK = p.alignToWords ? p.topK * 2 + 10 : p.topK;
    const answers: QuestionAnsweringOutputElement[] = [];
    let nullScore = NULL_SCORE_START;

    for (let r = 0; r < n; r++) {
      const [from, to] = windowRange(enc, r);
      const width = to - from;
      if (width === 0) continue;
      const at = r * len;
      const ids = enc.inputIds.subarray(at + from, at + to);
      const sequenceIds = enc.sequenceIds.subarray(at + from, at + to);
      const pMask = qaPMask(sequenceIds, ids, clsTokenId, questionFirst);
      const spans = qaDecodeSpan(
        startLogits.subarray(at + from, at + to),
        endLogits.subarray(at + from, at + to),
        pMask,
        enc.attentionMask.subarray(at + from, at + to),
        Math.min(preTopK, width * width),
        Math.min(p.maxAnswerLen, width),
      );
      if (p.handleImpossibleAnswer) nullScore = Math.min(nullScore, spans.nullScore);
      if (spans.starts.length === 0) continue;
      const chars = qaAnswerCharSpans(
        enc.wordIds.subarray(at + from, at + to),
        sequenceIds,
        enc.offsets.subarray(2 * (at + from), 2 * (at + to)),
        questionFirst ? 1 : 0,
        spans.starts,
        spans.ends,
        p.alignToWords,
      );
      for (let i = 0; i < spans.starts.length; i++) {
        const start = chars[2 * i] as number;
        const end = chars[2 * i + 1] as number;
        const score = spans.scores[i] as number;
        const text = slice(start, end);
        const lower = text.toLowerCase();
        const same = answers.find((a) => a.answer.toLowerCase() === lower);
        if (same) same.score += score;
        else answers.push({ score, start, end, answer: text });
      }
    }

    if (p.handleImpossibleAnswer) answers.push({ score: nullScore, start: 0, end: 0, answer: '' });
    // Array.prototype.sort is stable, as Python's sorted.
    answers.sort((a, b) => b.score - a.score);
    const kept = answers.slice(0, p.topK);
    if (options.offsets === 'utf16') {
      for (const a of kept) {
        a.start = toUtf16(a.start);
        a.end = toUtf16(a.end);
      }
    }
    return kept.length === 1 ? (kept[0] as QuestionAnsweringOutputElement) : kept;
  };

  return async (inputs, parameters) => {
    const p = qaParameters(parameters, modelMaxLength(model));
    const { items, single } = batchOf(inputs, qaInput);
    const results: QuestionAnsweringOutput[] = [];
    for (const item of items) results.push(await answer(item, p));
    return single ? results[0] : results;
  };
}

const questionAnswering: TaskDefinition = { create };
export default questionAnswering;

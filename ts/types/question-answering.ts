/** Extractive question answering (`question-answering`): request and response types. */

export interface QuestionAnsweringInputItem {
  /** The question. Must not be empty. */
  question: string;
  /** The text the answer is extracted from. Must not be empty. */
  context: string;
}

export interface QuestionAnsweringParameters {
  /** Number of answers to return (>= 1, default 1). Fewer come back when fewer spans qualify. */
  top_k?: number;
  /** Overlap in tokens between the windows of a long context. Default `min(max_seq_len // 2, 128)`. */
  doc_stride?: number;
  /** Longest answer in tokens (>= 1, default 15). */
  max_answer_len?: number;
  /** Tokens per window, question included. Default `min(model_max_length, 384)`. */
  max_seq_len?: number;
  /** Accepted for compatibility; only slow (Python) tokenizers use it. Default 64. */
  max_question_len?: number;
  /** Also consider "no answer" (an empty answer at 0..0). Default false. */
  handle_impossible_answer?: boolean;
  /** Widen answers to whole words. Default true. */
  align_to_words?: boolean;
}

export interface QuestionAnsweringInput {
  inputs: QuestionAnsweringInputItem;
  parameters?: QuestionAnsweringParameters;
}

export interface QuestionAnsweringOutputElement {
  /** Start probability times end probability, summed over equal answers of several windows. */
  score: number;
  /** Character offset of the answer in `context` (code points, or UTF-16 units on request). */
  start: number;
  end: number;
  /** `context[start:end]`. */
  answer: string;
}

/**
 * One answer as a bare object, otherwise an array (also for `top_k > 1` when only one answer
 * survives, the object form is used, as the reference pipeline does).
 */
export type QuestionAnsweringOutput = QuestionAnsweringOutputElement | QuestionAnsweringOutputElement[];

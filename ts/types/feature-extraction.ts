/** Feature extraction (`feature-extraction`): request and response types. */

/** Which end of an over-long input `truncate` cuts (TEI spells the values with a capital). */
export type FeatureExtractionTruncationDirection = 'Left' | 'Right' | 'left' | 'right';

export interface FeatureExtractionParameters {
  /**
   * Sentence-transformers models: `true` L2-normalises the embedding, `false` leaves out the
   * model's Normalize module; absent follows the model. Ignored for raw hidden states.
   */
  normalize?: boolean;
  /**
   * `true` cuts inputs at the model's limit. `false` rejects longer inputs. Absent:
   * sentence-transformers models cut (as sentence-transformers does), plain models reject.
   */
  truncate?: boolean;
  /** Default `Right`. */
  truncation_direction?: FeatureExtractionTruncationDirection;
  /** A key of the model's `prompts` (config_sentence_transformers.json) prefixed to each input. */
  prompt_name?: string;
}

export interface FeatureExtractionInput {
  inputs: string | string[];
  parameters?: FeatureExtractionParameters;
}

/**
 * Sentence-transformers models: `[dim]` for one string. Plain encoders: the last hidden
 * state, `[1][tokens][hidden]` for one string.
 */
export type FeatureExtractionOutput = number[] | number[][][];

/** The list forms: `[n][dim]`, or `[n][1][tokens_i][hidden]`. */
export type FeatureExtractionBatchOutput = number[][] | number[][][][];

/** Fill-mask (`fill-mask`): request and response types. */

export interface FillMaskParameters {
  /** Number of predictions per mask. Default 5. */
  top_k?: number;
  /** Restrict predictions to these tokens (looked up verbatim, else their first sub-token). */
  targets?: string[] | string;
}

export interface FillMaskInput {
  /** Text holding the tokenizer's mask token at least once. */
  inputs: string;
  parameters?: FillMaskParameters;
}

export interface FillMaskOutputElement {
  score: number;
  token: number;
  token_str: string;
  sequence: string;
}

/** One mask: a list of candidates. Several masks: one list per mask, left to right. */
export type FillMaskOutput = FillMaskOutputElement[] | FillMaskOutputElement[][];

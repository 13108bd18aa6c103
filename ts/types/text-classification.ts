/** Text classification (`text-classification`, alias `sentiment-analysis`): request and response types. */

/** The score function applied to the logits. */
export type TextClassificationOutputTransform = 'sigmoid' | 'softmax' | 'none';

export interface TextClassificationParameters {
  /** Default from the model config: regression -> none, multi-label or one label -> sigmoid, else softmax. */
  function_to_apply?: TextClassificationOutputTransform;
  /**
   * Absent or null: every label, sorted by score descending. An integer k: the first k of that
   * list (Python slice semantics: 0 gives [], negative drops from the end).
   */
  top_k?: number | null;
}

/** A sentence pair, e.g. for cross-encoders and NLI models. */
export interface TextClassificationPair {
  text: string;
  text_pair?: string;
}

export type TextClassificationInputItem = string | TextClassificationPair;

export interface TextClassificationInput {
  inputs: TextClassificationInputItem;
  parameters?: TextClassificationParameters;
}

export interface TextClassificationOutputElement {
  label: string;
  score: number;
}

export type TextClassificationOutput = TextClassificationOutputElement[];

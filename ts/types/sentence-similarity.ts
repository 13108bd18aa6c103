/** Sentence similarity (`sentence-similarity`): request and response types. */

export interface SentenceSimilarityInputItem {
  /** The sentence the others are compared with. */
  source_sentence: string;
  /** The sentences to compare; `[]` gives `[]`. */
  sentences: string[];
}

/** The task takes no parameters; an empty object is accepted. */
export type SentenceSimilarityParameters = Record<string, never>;

export interface SentenceSimilarityInput {
  inputs: SentenceSimilarityInputItem;
  parameters?: SentenceSimilarityParameters;
}

/** Cosine similarity of `source_sentence` with each of `sentences`, in their order. */
export type SentenceSimilarityOutput = number[];

/** Zero-shot classification (`zero-shot-classification`): request and response types. */

export interface ZeroShotClassificationParameters {
  /** Required: a list of labels, or one string split on commas. */
  candidate_labels: string[] | string;
  /** Python `str.format` template with one positional field. Default `"This example is {}."`. */
  hypothesis_template?: string;
  /** Score each label independently (entailment vs contradiction). Default false. */
  multi_label?: boolean;
}

export interface ZeroShotClassificationInput {
  inputs: string;
  parameters: ZeroShotClassificationParameters;
}

/** The live API's (and the Python pipeline's) response object: parallel lists, descending. */
export interface ZeroShotClassificationLegacyOutput {
  sequence: string;
  labels: string[];
  scores: number[];
}

/** The newer task spec's response: one element per label, descending. */
export interface ZeroShotClassificationOutputElement {
  label: string;
  score: number;
}

export type ZeroShotClassificationOutput =
  | ZeroShotClassificationLegacyOutput
  | ZeroShotClassificationOutputElement[];

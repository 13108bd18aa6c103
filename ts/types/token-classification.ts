/** Token classification (`token-classification`, alias `ner`): request and response types. */

/** How tokens are grouped into entities. The API default is `simple`. */
export type TokenClassificationAggregationStrategy = 'none' | 'simple' | 'first' | 'average' | 'max';

export interface TokenClassificationParameters {
  /** Default `simple` (the Inference API's default; the Python pipeline's is `none`). */
  aggregation_strategy?: TokenClassificationAggregationStrategy;
  /** Labels dropped from the output (after grouping). Default `["O"]`. */
  ignore_labels?: string[];
  /** Overlap in tokens between windows over long texts; needs an aggregation other than `none`. */
  stride?: number;
}

export interface TokenClassificationInput {
  inputs: string;
  parameters?: TokenClassificationParameters;
}

/** One entity of an aggregated result (`simple`, `first`, `average`, `max`). */
export interface TokenClassificationEntityGroup {
  entity_group: string;
  score: number;
  word: string;
  /** Start offset in the input, in code points (UTF-16 units with the `offsets: 'utf16'` option). */
  start: number | null;
  end: number | null;
}

/** One token of a `none` result. */
export interface TokenClassificationToken {
  entity: string;
  score: number;
  /** Token position in the model input (special tokens count). */
  index: number;
  word: string;
  start: number | null;
  end: number | null;
}

export type TokenClassificationOutputElement = TokenClassificationEntityGroup | TokenClassificationToken;

export type TokenClassificationOutput = TokenClassificationOutputElement[];

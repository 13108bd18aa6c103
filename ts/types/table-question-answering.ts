/** Table question answering (`table-question-answering`): request and response types. */

/** A table as the Inference API sends it: column name -> cells (strings, equal lengths). */
export type TableQuestionAnsweringTable = Record<string, string[]>;

export interface TableQuestionAnsweringInputItem {
  /** The table. Must have at least one column and one row. */
  table: TableQuestionAnsweringTable;
  /** The question, or several (answered one after the other with `sequential`). The live API's name. */
  query?: string | string[];
  /** Same as `query` (the name of the newer task spec); `query` wins when both are sent. */
  question?: string | string[];
}

export interface TableQuestionAnsweringParameters {
  /** Feed each answer to the next query (conversational models such as SQA). Default false. */
  sequential?: boolean;
  /** `true`/`longest` (default), `max_length`, or `false`/`do_not_pad`. */
  padding?: boolean | 'longest' | 'max_length' | 'do_not_pad';
  /** `true`/`drop_rows_to_fit` (default) or `false`/`do_not_truncate`. */
  truncation?: boolean | 'drop_rows_to_fit' | 'do_not_truncate';
}

export interface TableQuestionAnsweringInput {
  inputs: TableQuestionAnsweringInputItem;
  parameters?: TableQuestionAnsweringParameters;
}

export interface TableQuestionAnsweringOutputElement {
  /** The answer cells joined by ", ", prefixed by "AGGREGATOR > " unless the aggregator is the "none" label. */
  answer: string;
  /** `[row, column]` of every answer cell (0-based, header excluded), sorted. */
  coordinates: [number, number][];
  /** The answer cells' text. */
  cells: string[];
  /** The predicted aggregation label; only for models with an aggregation head. */
  aggregator?: string;
}

/** One object for one query; a list for several queries. */
export type TableQuestionAnsweringOutput =
  | TableQuestionAnsweringOutputElement
  | TableQuestionAnsweringOutputElement[];

/**
 * Types of the encoder-decoder generation tasks: text2text-generation, summarization and
 * translation (task contract section 8).
 */

/** Decoding options (transformers' `generate` names), nested or flat. */
export interface Text2TextGenerateParameters {
  max_new_tokens?: number;
  max_length?: number;
  min_length?: number;
  min_new_tokens?: number;
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  typical_p?: number;
  repetition_penalty?: number;
  no_repeat_ngram_size?: number;
  max_time?: number;
  num_beams?: number;
  num_return_sequences?: number;
  length_penalty?: number;
  early_stopping?: boolean | 'never';
  forced_bos_token_id?: number | null;
  forced_eos_token_id?: number | number[] | null;
  decoder_start_token_id?: number | null;
  bad_words_ids?: number[][];
  /** Sampling seed (row i of num_return_sequences uses seed + i). */
  seed?: number;
}

export interface Text2TextParameters extends Text2TextGenerateParameters {
  /** `do_not_truncate` (default), `true`/`longest_first`, `only_first`, `only_second`. */
  truncation?: boolean | 'do_not_truncate' | 'longest_first' | 'only_first' | 'only_second';
  /** Default false. */
  clean_up_tokenization_spaces?: boolean;
  /** The Inference API spec's nesting of the decoding options. */
  generate_parameters?: Text2TextGenerateParameters;
}

export interface TranslationParameters extends Text2TextParameters {
  /** Source language code of a multilingual tokenizer (mBART `en_XX`, NLLB `eng_Latn`, M2M100 `en`). */
  src_lang?: string;
  tgt_lang?: string;
}

export type Text2TextGenerationOutput = Array<{ generated_text: string }>;
export type SummarizationOutput = Array<{ summary_text: string }>;
export type TranslationOutput = Array<{ translation_text: string }>;

/**
 * Text generation (`text-generation`) and the legacy `conversational` contract: request
 * parameters (the legacy Inference API names and TGI's), outputs and streaming events.
 */

/** One chat message. */
export interface ChatMessageInput {
  role: string;
  content: string;
}

/** A prompt string, or a chat (list of messages) rendered with the model's chat template. */
export type TextGenerationInput = string | ChatMessageInput[];

export interface TextGenerationParameters {
  /** Prepend the prompt to the output (default true; chat inputs return the message list). */
  return_full_text?: boolean;
  /** Sequences per prompt (sampling or beam search; greedy allows 1). */
  num_return_sequences?: number;
  /** New tokens at most (default 256, bounded by `maxNewTokensLimit` and the model's context). */
  max_new_tokens?: number;
  /** Legacy: total length (prompt included) when `max_new_tokens` is absent. */
  max_length?: number;
  /** Total length (prompt included) before EOS may end the sequence. */
  min_length?: number;
  /** New tokens before EOS may end the sequence. */
  min_new_tokens?: number;
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  typical_p?: number;
  repetition_penalty?: number;
  no_repeat_ngram_size?: number;
  /** Seconds from the start of the call after which generation stops. */
  max_time?: number;
  /** Seed of the sampler (integer); absent: random. */
  seed?: number;
  /** TGI: stop strings; the output keeps the stop string. */
  stop?: string[];
  /** The pipeline's `stop_sequence`: its token ids end generation in place of EOS. */
  stop_sequence?: string;
  /** TGI: return `details` (finish reason, generated token count, per-token ids and logprobs). */
  details?: boolean;
  num_beams?: number;
  length_penalty?: number;
  early_stopping?: boolean | 'never';
  /** `"hole"`: cut the prompt's start so that it and the new tokens fit `model_max_length`. */
  handle_long_generation?: 'hole' | null;
  /** TGI: keep only the last N prompt tokens. */
  truncate?: number;
  /** Decode with `clean_up_tokenization_spaces` (default true, as the pipeline). */
  clean_up_tokenization_spaces?: boolean;
  /** Chat inputs: continue the final (assistant) message instead of starting a new one. */
  continue_final_message?: boolean;
  /** Aliases accepted from TGI / OpenAI-style callers. */
  max_tokens?: number;
  stop_sequences?: string[];
}

/** One generated token in `details`. */
export interface GeneratedToken {
  id: number;
  text: string;
  /** Log-probability of the token under the processed (and warped) scores; null under beam search. */
  logprob: number | null;
  special: boolean;
}

export type TextGenerationFinishReason = 'length' | 'eos_token' | 'stop_sequence';

export interface TextGenerationDetails {
  finish_reason: TextGenerationFinishReason;
  generated_tokens: number;
  seed?: number;
  tokens: GeneratedToken[];
  /** Beam search: the length-normalised sequence score. */
  sequence_score?: number;
}

export interface TextGenerationOutputItem {
  /** The text (string input) or the message list plus the assistant message (chat input). */
  generated_text: string | ChatMessageInput[];
  details?: TextGenerationDetails;
}

/** One list per prompt: one item per returned sequence. */
export type TextGenerationOutput = TextGenerationOutputItem[];

/** Streaming events: one `token` per generated token, then `end`. */
export type TextGenerationStreamEvent =
  | { type: 'token'; index: number; token: { id: number; text: string; logprob: number; special: boolean } }
  | {
      type: 'end';
      index: number;
      finish_reason: TextGenerationFinishReason;
      generated_tokens: number;
      generated_text: string;
    };

/** Legacy conversational input. */
export interface ConversationalInput {
  text: string;
  past_user_inputs?: string[];
  generated_responses?: string[];
}

export interface ConversationalParameters {
  min_length?: number;
  max_length?: number;
  max_new_tokens?: number;
  top_k?: number;
  top_p?: number;
  temperature?: number;
  repetition_penalty?: number;
  max_time?: number;
  do_sample?: boolean;
  seed?: number;
}

export interface ConversationalOutput {
  generated_text: string;
  conversation: { past_user_inputs: string[]; generated_responses: string[] };
  warnings?: string[];
}

/**
 * Request and response types of the audio tasks (automatic-speech-recognition,
 * audio-classification), snake_case as the Inference API spells them.
 */

/** One audio input: file bytes, a path (library only), base64 / data URL, or decoded samples. */
export type AudioInput =
  | Uint8Array
  | ArrayBuffer
  | string
  | { raw: Float32Array | Float64Array | number[] | number[][]; sampling_rate: number }
  | { array: Float32Array | Float64Array | number[] | number[][]; sampling_rate: number };

export interface AutomaticSpeechRecognitionParameters {
  /** CTC models: `char` or `word` chunks (`true` is Whisper's segment level). */
  return_timestamps?: boolean | 'char' | 'word';
  /** Window length in seconds for chunked inference (0 = whole input). */
  chunk_length_s?: number;
  /** Overlap on each side of a window in seconds (default chunk_length_s / 6), or [left, right]. */
  stride_length_s?: number | [number, number];
  /** Generation parameters (sequence-to-sequence models). */
  generation_parameters?: Record<string, unknown>;
  max_new_tokens?: number;
}

export interface AutomaticSpeechRecognitionChunk {
  text: string;
  /** Start and end in seconds (the end may be null for an unfinished Whisper segment). */
  timestamp: [number, number | null];
}

export interface AutomaticSpeechRecognitionOutput {
  text: string;
  chunks?: AutomaticSpeechRecognitionChunk[];
}

export type AudioClassificationOutputTransform = 'softmax' | 'sigmoid' | 'none';

export interface AudioClassificationParameters {
  /** How many labels to return (default: every label). */
  top_k?: number | null;
  function_to_apply?: AudioClassificationOutputTransform | null;
}

export type AudioClassificationOutput = Array<{ score: number; label: string }>;

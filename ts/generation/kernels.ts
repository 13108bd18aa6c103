/**
 * Typed wrappers of the native decoding kernels (crates/core/src/generation): logits processors
 * and warpers in transformers 4.57 order, greedy/seeded sampling, and step-wise beam search.
 * Native failures become `NativeError`s with a stable `code` (e.g. `ERR_INVALID_ARGUMENT` for a
 * bad configuration, `ERR_DIMS` for a logits buffer of the wrong length).
 */
import { fromNative } from '../errors.js';
import { NativeBeamSearch, type NativeDecodingConfig, NativeTokenSampler } from '../native.js';

/**
 * Logits processors and warpers, applied in transformers 4.57 `_get_logits_processor` order,
 * each only when enabled: repetition penalty → no-repeat n-gram → bad words → min length → min
 * new tokens → forced BOS → forced EOS → suppress tokens → begin-suppress tokens; then, only when
 * `doSample`, temperature → top-k → top-p → min-p → typical-p → epsilon → eta. An absent field is off (the caller
 * resolves generation-config defaults such as `top_k = 50`).
 */
export interface DecodingConfig {
  /** > 0; 1/absent = off. Distinct ids of `ids`: positive scores divided, negative multiplied. */
  repetitionPenalty?: number;
  /** 0/absent = off; n-grams over `ids` (prompt included for decoder-only callers). */
  noRepeatNgramSize?: number;
  /** Token sequences never to complete (single EOS ids are dropped, as transformers does). */
  badWordsIds?: number[][];
  /** EOS → -inf while `ids.length < minLength` (needs `eosTokenIds`). */
  minLength?: number;
  /** EOS → -inf while `ids.length - promptLength < minNewTokens` (needs `eosTokenIds`). */
  minNewTokens?: number;
  eosTokenIds?: number[];
  /** Forced when `ids.length == 1`. */
  forcedBosTokenId?: number;
  /** Forced when `ids.length == maxLength - 1` (needs `maxLength`). */
  forcedEosTokenIds?: number[];
  /** Total length bound (forced EOS; beam search). */
  maxLength?: number;
  suppressTokens?: number[];
  /** Suppressed when `ids.length == beginIndex`. */
  beginSuppressTokens?: number[];
  /** Default: `promptLength`, plus 1 when `promptLength == 1` and a BOS is forced (transformers). */
  beginIndex?: number;
  doSample?: boolean;
  /** > 0. */
  temperature?: number;
  /** 0/absent = off; values tied with the k-th survive. */
  topK?: number;
  /** [0, 1]; 1 = off. */
  topP?: number;
  /** [0, 1]; applied whenever present. */
  minP?: number;
  /** (0, 1]; 1 = off. */
  typicalP?: number;
  /** `epsilon_cutoff`: applied when in (0, 1), after typical-p. */
  epsilonCutoff?: number;
  /** `eta_cutoff`: applied when in (0, 1), after epsilon. */
  etaCutoff?: number;
  /** Whisper's timestamp rules, after every other processor (before the warpers). */
  whisperTimestamps?: WhisperTimestamps;
}

/**
 * `WhisperTimeStampLogitsProcessor`: timestamp tokens are the ids after `noTimestampsTokenId`;
 * generated tokens start at `beginIndex` (else the prompt length).
 */
export interface WhisperTimestamps {
  noTimestampsTokenId: number;
  /** The generation config's `eos_token_id` (else `bos_token_id`). */
  eosTokenId: number;
  /** `max_initial_timestamp_index`: the latest first timestamp. */
  maxInitialTimestampIndex?: number;
}

/** Beam search settings. */
export interface BeamSearchConfig extends DecodingConfig {
  /** >= 1. */
  numBeams: number;
  /** Default 1.0. */
  lengthPenalty?: number;
  /** Default false. */
  earlyStopping?: boolean | 'never';
  /** <= numBeams, default 1. */
  numReturnSequences?: number;
  padTokenId?: number;
  /** Required: total length bound, prompt included. */
  maxLength: number;
}

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fromNative(err);
  }
}

function f32(x: Float32Array | ArrayLike<number>): Float32Array {
  return x instanceof Float32Array ? x : Float32Array.from(x);
}

function i32(x: Int32Array | ArrayLike<number>): Int32Array {
  return x instanceof Int32Array ? x : Int32Array.from(x);
}

/**
 * One sequence's next-token choice: greedy argmax (first index on ties), or sampling with the
 * sequence's own seeded random stream (xoshiro256** seeded by SplitMix64; one uniform draw per
 * step; inverse CDF over token-id order of `softmax(scores)`), so a seed gives the same tokens
 * whatever runs beside it.
 */
export class TokenSampler {
  readonly #native: NativeTokenSampler;

  /** `seed`: integer in [0, 2^53 - 1]; absent = a random seed. */
  constructor(config: DecodingConfig, seed?: number) {
    this.#native = call(() => new NativeTokenSampler(config as NativeDecodingConfig, seed));
  }

  /** The seed of the random stream. */
  get seed(): number {
    return this.#native.seed;
  }

  /**
   * `logits`: the last position's row; `ids`: the whole sequence so far; `promptLength`: where
   * generated tokens start. `logprob` = log-softmax of the processed (and warped) scores at the
   * chosen token.
   */
  next(logits: Float32Array, ids: Int32Array, promptLength: number): { token: number; logprob: number } {
    return call(() => this.#native.next(f32(logits), i32(ids), promptLength));
  }

  /** The processed (and, when sampling, warped) scores; -inf marks removed tokens. */
  scores(logits: Float32Array, ids: Int32Array, promptLength: number): Float32Array {
    return call(() => this.#native.scores(f32(logits), i32(ids), promptLength));
  }
}

/** Beam search for one input, as transformers 4.57's `_beam_search` (beam sampling with `doSample`). */
export class BeamSearch {
  readonly #native: NativeBeamSearch;

  /**
   * `promptIds`: the (decoder) prompt every beam starts from. With `doSample` (beam sampling,
   * candidates drawn without replacement as torch's `multinomial` draws them), `seed` fixes the
   * random stream (integer in [0, 2^53 - 1]; absent = random).
   */
  constructor(config: BeamSearchConfig, promptIds: Int32Array, seed?: number) {
    this.#native = call(() => new NativeBeamSearch(config as NativeDecodingConfig, i32(promptIds), seed));
  }

  /**
   * `logits`: numBeams rows × vocab, one per running beam in beam order. Returns, for each new
   * beam, the previous beam row it continues (reorder KV caches with `beamIndices`) and its token.
   * `stopAll`: every candidate of this step hits a stopping criterion (as transformers'
   * `MaxTimeCriteria` once time is up): the best become finished hypotheses and `done` is true.
   * `isStop(candidate)`: a caller-side stopping criterion (e.g. stop strings) run, as transformers
   * runs its criteria, on every one of the `beamsToKeep` candidates (prompt + generated ids + new
   * token) before they are ranked.
   */
  step(
    logits: Float32Array,
    options?: { stopAll?: boolean; isStop?: (candidate: Int32Array) => boolean },
  ): { beamIndices: Int32Array; tokens: Int32Array; done: boolean } {
    const isStop = options?.isStop;
    if (isStop === undefined) return call(() => this.#native.step(f32(logits), options?.stopAll));
    const running = this.sequences();
    const { beamIndices, tokens } = call(() => this.#native.propose(f32(logits)));
    const stops = new Uint8Array(tokens.length);
    for (let j = 0; j < tokens.length; j++) {
      const prev = running[beamIndices[j] as number] as Int32Array;
      const candidate = new Int32Array(prev.length + 1);
      candidate.set(prev);
      candidate[prev.length] = tokens[j] as number;
      stops[j] = isStop(candidate) ? 1 : 0;
    }
    return call(() => this.#native.commit(stops, options?.stopAll));
  }

  /** Running sequences (numBeams rows, prompt included). */
  sequences(): Int32Array[] {
    return call(() => this.#native.sequences());
  }

  /** True once the search is over. */
  get done(): boolean {
    return this.#native.done;
  }

  /**
   * Best `numReturnSequences` hypotheses, best first: generated ids (prompt excluded, EOS kept)
   * padded to the longest as transformers pads them (pad id; the first EOS id when the pad id is
   * absent or 0), their real `lengths`, and the length-normalised scores.
   */
  finalize(): { sequences: Int32Array[]; scores: number[]; lengths: number[] } {
    return call(() => this.#native.finalize());
  }
}

export type { DecodeStream } from '../tokenizer.js';

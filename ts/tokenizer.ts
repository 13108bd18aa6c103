/**
 * The public tokenizer: a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) run by the
 * Rust core, encoding exactly as the Python fast tokenizer's `__call__` does. Results are flat
 * typed arrays with `dims = [rows, seqLen]`, ready to feed onnxruntime.
 */
import { fromNative, InvalidInputError, NativeError } from './errors.js';
import { type NativeEncodeOptions, type NativeEncoding, NativeTokenizer } from './native.js';

/** How to cut inputs longer than `maxLength`. */
export type TruncationStrategy = 'longest_first' | 'only_first' | 'only_second';
/** How to pad a batch. */
export type PaddingStrategy = 'longest' | 'max_length';
/** Padding / truncation side. */
export type Side = 'left' | 'right';
/** Unit of the returned offsets: Unicode code points (Python, the Inference API) or UTF-16 units (JS). */
export type OffsetUnit = 'code_points' | 'utf16';

/** Options of an encode call (the Python tokenizer's `__call__` arguments, camelCased). */
export interface EncodeOptions {
  /** Add `[CLS]`/`[SEP]`, `<s>`/`</s>`... Default true. */
  addSpecialTokens?: boolean;
  /**
   * `true` = `longest_first`. Left out: off, unless `maxLength` is given without padding (then
   * `longest_first`, as in Python). With truncation on and no `maxLength`, the model maximum.
   */
  truncation?: boolean | TruncationStrategy;
  /** Maximum length in tokens, special tokens included. */
  maxLength?: number;
  /** `true` = `longest`. `max_length` pads to `maxLength` (or the model maximum). */
  padding?: boolean | PaddingStrategy;
  /** Default: the tokenizer's `padding_side`. */
  paddingSide?: Side;
  /** Default: the tokenizer's `truncation_side`. */
  truncationSide?: Side;
  /** Round padded lengths up to a multiple of this. */
  padToMultipleOf?: number;
  /** Tokens shared by consecutive overflowing windows. */
  stride?: number;
  /** Return every overflowing window as its own row (`return_overflowing_tokens=True`). */
  returnOverflowing?: boolean;
  /** Default `code_points`. */
  offsets?: OffsetUnit;
}

/**
 * Encoded rows, row-major, `dims = [rows, seqLen]`. One row per input, or per overflowing
 * window with `returnOverflowing` (`overflowToSampleMapping[row]` = input index). Without
 * padding, rows shorter than `seqLen` are filled on the right as padding would fill them
 * (attention 0) and `lengths[row]` is the real length.
 */
export interface BatchEncoding {
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
  /** 1 for special and padding tokens. */
  specialTokensMask: Uint8Array;
  /** `[rows, seqLen, 2]`: start/end of each token in its own text; 0/0 for special tokens. */
  offsets: Uint32Array;
  /** Word index of each token in its sequence, -1 for none. */
  wordIds: Int32Array;
  /** 0 (text) or 1 (pair), -1 for special and padding tokens. */
  sequenceIds: Int8Array;
  overflowToSampleMapping: Uint32Array;
  /**
   * Tokens in each row: its real length without padding; with padding on, the padded length, as
   * the `tokenizers` crate counts it (the attention mask's ones are then the real length).
   */
  lengths: Uint32Array;
  dims: [number, number];
}

/** Streaming decode state of one sequence (`Tokenizer.decodeStream`). */
export interface DecodeStream {
  /** Adds one id; returns the text it completes ('' while a character or word is incomplete). */
  step(id: number): string;
  /** Text still held back at the end (normally ''): steps + flush = the full decode. */
  flush(): string;
}

/** Options of `decode` (the Python names). */
export interface DecodeOptions {
  skip_special_tokens?: boolean;
  /** Default: the tokenizer's `clean_up_tokenization_spaces`. */
  clean_up_tokenization_spaces?: boolean;
}

/** The named special tokens and their ids; null when the tokenizer has none. */
export interface SpecialTokens {
  cls_token: string | null;
  sep_token: string | null;
  pad_token: string | null;
  mask_token: string | null;
  unk_token: string | null;
  bos_token: string | null;
  eos_token: string | null;
  cls_token_id: number | null;
  sep_token_id: number | null;
  pad_token_id: number | null;
  mask_token_id: number | null;
  unk_token_id: number | null;
  bos_token_id: number | null;
  eos_token_id: number | null;
}

/** A text, or a `[text, pair]` tuple. */
export type TokenizerInput = string | [string, string];
/** Token ids as numbers, bigints or an integer typed array. */
export type TokenIds = ArrayLike<number> | ArrayLike<bigint>;

const OPTION_KEYS = new Set([
  'addSpecialTokens',
  'truncation',
  'maxLength',
  'padding',
  'paddingSide',
  'truncationSide',
  'padToMultipleOf',
  'stride',
  'returnOverflowing',
  'offsets',
]);
const TRUNCATIONS = new Set(['longest_first', 'only_first', 'only_second']);
const SIDES = new Set(['left', 'right']);
const ASYNC_CODE = /^(ERR_[A-Z_]+): ([\s\S]*)$/;
// With the `u` flag a surrogate class only matches unpaired surrogates.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function invalid(message: string): InvalidInputError {
  return new InvalidInputError('ERR_INVALID_ARGUMENT', message);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`;
}

function checkText(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string, got ${describe(value)}`);
  const m = LONE_SURROGATE.exec(value);
  if (m) {
    throw invalid(
      `${what} contains a lone UTF-16 surrogate at index ${m.index}; text must be well-formed Unicode`,
    );
  }
  return value;
}

function count(value: unknown, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`${name} must be an integer >= ${min}, got ${describe(value)}`);
  }
  return value;
}

function flag(value: unknown, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}

function side(value: unknown, name: string): Side | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !SIDES.has(value)) {
    throw invalid(`${name} must be 'left' or 'right', got ${describe(value)}`);
  }
  return value as Side;
}

function toNativeOptions(options: EncodeOptions | undefined): NativeEncodeOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalid(`encode options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw invalid(
        `unknown encode option ${JSON.stringify(key)}; expected one of ${[...OPTION_KEYS].join(', ')}`,
      );
    }
  }
  const o = options as Record<string, unknown>;
  const out: NativeEncodeOptions = {};
  const add = flag(o.addSpecialTokens, 'addSpecialTokens');
  if (add !== undefined) out.addSpecialTokens = add;
  const t = o.truncation;
  if (t === true) out.truncation = 'longest_first';
  else if (t === false) out.truncation = 'do_not_truncate';
  else if (typeof t === 'string' && TRUNCATIONS.has(t)) out.truncation = t;
  else if (t !== undefined) {
    throw invalid(
      `truncation must be a boolean or one of longest_first, only_first, only_second, got ${describe(t)}`,
    );
  }
  const p = o.padding;
  if (p === true) out.padding = 'longest';
  else if (p === false) out.padding = 'do_not_pad';
  else if (p === 'longest' || p === 'max_length') out.padding = p;
  else if (p !== undefined) {
    throw invalid(`padding must be a boolean, 'longest' or 'max_length', got ${describe(p)}`);
  }
  const maxLength = count(o.maxLength, 'maxLength');
  if (maxLength !== undefined) out.maxLength = maxLength;
  const multiple = count(o.padToMultipleOf, 'padToMultipleOf', 1);
  if (multiple !== undefined) out.padToMultipleOf = multiple;
  const stride = count(o.stride, 'stride');
  if (stride !== undefined) out.stride = stride;
  const ps = side(o.paddingSide, 'paddingSide');
  if (ps !== undefined) out.paddingSide = ps;
  const ts = side(o.truncationSide, 'truncationSide');
  if (ts !== undefined) out.truncationSide = ts;
  const overflow = flag(o.returnOverflowing, 'returnOverflowing');
  if (overflow !== undefined) out.returnOverflowing = overflow;
  const unit = o.offsets;
  if (unit === 'code_points' || unit === 'utf16') out.offsets = unit;
  else if (unit !== undefined)
    throw invalid(`offsets must be 'code_points' or 'utf16', got ${describe(unit)}`);
  return out;
}

function splitInputs(inputs: unknown): [string[], Array<string | null> | undefined] {
  if (!Array.isArray(inputs)) throw invalid(`inputs must be an array, got ${describe(inputs)}`);
  const texts: string[] = [];
  const pairs: Array<string | null> = [];
  let anyPair = false;
  inputs.forEach((item: unknown, i) => {
    if (Array.isArray(item)) {
      if (item.length !== 2) {
        throw invalid(
          `inputs[${i}] must be a string or a [text, pair] tuple, got an array of ${item.length}`,
        );
      }
      texts.push(checkText(item[0], `inputs[${i}][0]`));
      pairs.push(checkText(item[1], `inputs[${i}][1]`));
      anyPair = true;
    } else {
      texts.push(checkText(item, `inputs[${i}]`));
      pairs.push(null);
    }
  });
  return [texts, anyPair ? pairs : undefined];
}

/**
 * The largest batch, in UTF-16 code units of texts and pairs together, that `encodeBatch`
 * encodes on the calling thread: about a paragraph, a few hundred microseconds of work at most.
 */
export const SYNC_ENCODE_MAX_CHARS = 512;

/**
 * Whether a small batch was already encoded on the calling thread in this turn of the event
 * loop: the next ones of a burst (many calls started at once) go to the thread pool, which
 * spreads them over the cores, while a lone call each turn keeps the calling thread.
 */
let syncThisTurn = false;

function takeSyncTurn(): boolean {
  if (syncThisTurn) return false;
  syncThisTurn = true;
  setImmediate(() => {
    syncThisTurn = false;
  });
  return true;
}

function charCount(texts: readonly string[], pairs: ReadonlyArray<string | null> | undefined): number {
  let n = 0;
  for (const t of texts) n += t.length;
  if (pairs !== undefined) for (const p of pairs) n += p?.length ?? 0;
  return n;
}

function toIds(ids: unknown, what: string): Uint32Array {
  if (ids instanceof Uint32Array) return ids;
  if (!Array.isArray(ids) && !(ArrayBuffer.isView(ids) && !(ids instanceof DataView))) {
    throw invalid(`${what} must be an array or integer typed array of token ids, got ${describe(ids)}`);
  }
  const src = ids as ArrayLike<unknown>;
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    let n: number;
    if (typeof v === 'bigint') {
      if (v < 0n || v > 0xffffffffn) {
        throw new InvalidInputError('ERR_TOKEN_ID', `${what}[${i}] = ${v} is not a valid token id`);
      }
      n = Number(v);
    } else if (typeof v === 'number' && Number.isInteger(v)) {
      if (v < 0 || v > 0xffffffff) {
        throw new InvalidInputError('ERR_TOKEN_ID', `${what}[${i}] = ${v} is not a valid token id`);
      }
      n = v;
    } else {
      throw invalid(`${what}[${i}] must be an integer token id, got ${describe(v)}`);
    }
    out[i] = n;
  }
  return out;
}

/** `tokenizer_config.json` and `special_tokens_map.json` as text, where given (text or parsed). */
function configTexts(
  configJson: string | object | undefined,
  specialTokensMapJson: string | object | undefined,
): [string | undefined, string | undefined] {
  return [
    configJson === undefined ? undefined : toJsonText(configJson, 'configJson'),
    specialTokensMapJson === undefined ? undefined : toJsonText(specialTokensMapJson, 'specialTokensMapJson'),
  ];
}

function decodeOptions(options: unknown): [boolean | undefined, boolean | undefined] {
  if (options === undefined) return [undefined, undefined];
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalid(`decode options must be an object, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  return [
    flag(o.skip_special_tokens, 'skip_special_tokens'),
    flag(o.clean_up_tokenization_spaces, 'clean_up_tokenization_spaces'),
  ];
}

function fromNativeEncoding(e: NativeEncoding): BatchEncoding {
  return {
    inputIds: e.inputIds,
    attentionMask: e.attentionMask,
    tokenTypeIds: e.tokenTypeIds,
    specialTokensMask: e.specialTokensMask,
    offsets: e.offsets,
    wordIds: e.wordIds,
    sequenceIds: e.sequenceIds,
    overflowToSampleMapping: e.overflowToSampleMapping,
    lengths: e.lengths,
    dims: [e.dims[0] ?? 0, e.dims[1] ?? 0],
  };
}

/** Errors of the async path arrive as `"<CODE>: <message>"`. */
function fromAsync(err: unknown): Error {
  if (err instanceof Error) {
    const m = ASYNC_CODE.exec(err.message);
    if (m?.[1] !== undefined) return new NativeError(m[1], m[2] ?? '', { cause: err });
  }
  return fromNative(err);
}

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fromNative(err);
  }
}

function toJsonText(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  throw invalid(`${what} must be a JSON string or an object, got ${describe(value)}`);
}

/** A Hugging Face fast tokenizer. Immutable; safe to share between concurrent calls. */
export class Tokenizer {
  /** The addon object (for native functions that take a tokenizer). */
  readonly native: NativeTokenizer;
  #special: SpecialTokens | undefined;
  /** The id padding fills `input_ids` with, where it is not the pad token's (see `withPadTokenId`). */
  readonly #padId: number | null;

  private constructor(native: NativeTokenizer, padId: number | null = null) {
    this.native = native;
    this.#padId = padId;
  }

  /**
   * The same tokenizer, padding `input_ids` with `id` (and able to pad without a pad token): a
   * model whose config.json names another pad id than its tokenizer (a decoder-only classifier
   * finds its last real token by that id), or whose tokenizer has none. Such padding fills each
   * row on the right, where the real tokens keep the positions they have unpadded.
   */
  withPadTokenId(id: number): Tokenizer {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw invalid(`pad token id must be an id of the vocabulary, got ${describe(id)}`);
    }
    return new Tokenizer(this.native, id);
  }

  /**
   * The id padding fills `input_ids` with: the one given to `withPadTokenId`, else the pad
   * token's (`specialTokens.pad_token_id` stays the tokenizer's own, as Python reports it).
   */
  get padTokenId(): number | null {
    return this.#padId ?? this.specialTokens.pad_token_id;
  }

  /** Native options, and whether padding is done here (`withPadTokenId`) instead of natively. */
  #nativeOptions(options: EncodeOptions | undefined): [ReturnType<typeof toNativeOptions>, boolean] {
    const opts = toNativeOptions(options);
    const ownPadding =
      this.#padId !== null &&
      opts.padding === 'longest' &&
      (options?.padToMultipleOf === undefined || options.padToMultipleOf === 1);
    return ownPadding ? [{ ...opts, padding: 'do_not_pad' }, true] : [opts, false];
  }

  /** Right-filled rows of an unpadded encoding as padded rows: `input_ids` filled with the pad id. */
  #padded(e: BatchEncoding): BatchEncoding {
    const pad = BigInt(this.#padId ?? 0);
    for (let i = 0; i < e.inputIds.length; i++) if (e.attentionMask[i] === 0n) e.inputIds[i] = pad;
    e.lengths.fill(e.dims[1]);
    return e;
  }

  /**
   * Loads `tokenizer.json`, given as the file or as the directory holding it; a
   * `tokenizer_config.json` and `special_tokens_map.json` beside it are read when present.
   */
  static fromFile(path: string): Tokenizer {
    if (typeof path !== 'string' || path === '')
      throw invalid(`path must be a non-empty string, got ${describe(path)}`);
    return new Tokenizer(call(() => NativeTokenizer.fromFile(path)));
  }

  /**
   * A Marian slow tokenizer (`MarianTokenizer`, as Helsinki-NLP opus-mt models ship it): the
   * source SentencePiece model's bytes (`source.spm`) and `vocab.json`, plus optionally
   * `tokenizer_config.json` and `special_tokens_map.json` (text or parsed), and the target side:
   * `target.spm` (how generated pieces decode) and, for separate vocabularies,
   * `target_vocab.json` (the ids generated text uses).
   */
  static fromMarian(
    sourceSpm: Uint8Array,
    vocabJson: string | object,
    configJson?: string | object,
    specialTokensMapJson?: string | object,
    target: { spm?: Uint8Array; vocabJson?: string | object } = {},
  ): Tokenizer {
    if (!(sourceSpm instanceof Uint8Array))
      throw invalid(`sourceSpm must be a Uint8Array, got ${describe(sourceSpm)}`);
    if (target.spm !== undefined && !(target.spm instanceof Uint8Array))
      throw invalid(`target.spm must be a Uint8Array, got ${describe(target.spm)}`);
    const vocab = toJsonText(vocabJson, 'vocabJson');
    const [config, map] = configTexts(configJson, specialTokensMapJson);
    const targetVocab =
      target.vocabJson === undefined ? undefined : toJsonText(target.vocabJson, 'target.vocabJson');
    return new Tokenizer(
      call(() => NativeTokenizer.fromMarian(sourceSpm, vocab, config, map, target.spm, targetVocab)),
    );
  }

  /**
   * An M2M100 slow tokenizer (`M2M100Tokenizer`, as facebook/m2m100 models ship it): the BPE
   * SentencePiece model's bytes (`sentencepiece.bpe.model`) and `vocab.json`, plus optionally
   * `tokenizer_config.json` and `special_tokens_map.json` (text or parsed), and the language
   * tokens (`__en__`, ...) whose ids follow `vocab.json`'s entries (special, and cut out of
   * text, where the configuration lists them as additional special tokens).
   */
  static fromM2M100(
    spm: Uint8Array,
    vocabJson: string | object,
    configJson?: string | object,
    specialTokensMapJson?: string | object,
    languageTokens: readonly string[] = [],
  ): Tokenizer {
    if (!(spm instanceof Uint8Array)) throw invalid(`spm must be a Uint8Array, got ${describe(spm)}`);
    if (!Array.isArray(languageTokens) || !languageTokens.every((t) => typeof t === 'string'))
      throw invalid(`languageTokens must be an array of strings, got ${describe(languageTokens)}`);
    const vocab = toJsonText(vocabJson, 'vocabJson');
    const [config, map] = configTexts(configJson, specialTokensMapJson);
    return new Tokenizer(
      call(() => NativeTokenizer.fromM2M100(spm, vocab, config, map, [...languageTokens])),
    );
  }

  /**
   * A Speech2Text slow tokenizer (`Speech2TextTokenizer`, as facebook/s2t-* models ship it): the
   * SentencePiece model's bytes (`sentencepiece.bpe.model`) and `vocab.json`, plus optionally
   * `tokenizer_config.json` and `special_tokens_map.json` (text or parsed). `</s>` ends the
   * text, `<lang:xx>` (`tgt_lang`) starts it when the configuration has `lang_codes`, and
   * decoding upper-cases the text where `do_upper_case` is set.
   */
  static fromSpeech2Text(
    spm: Uint8Array,
    vocabJson: string | object,
    configJson?: string | object,
    specialTokensMapJson?: string | object,
  ): Tokenizer {
    if (!(spm instanceof Uint8Array)) throw invalid(`spm must be a Uint8Array, got ${describe(spm)}`);
    const vocab = toJsonText(vocabJson, 'vocabJson');
    const [config, map] = configTexts(configJson, specialTokensMapJson);
    return new Tokenizer(call(() => NativeTokenizer.fromSpeech2Text(spm, vocab, config, map)));
  }

  /** Loads from the contents of `tokenizer.json` and optionally `tokenizer_config.json` (text or parsed). */
  static fromJSON(
    json: string | object,
    configJson?: string | object,
    specialTokensMapJson?: string | object,
  ): Tokenizer {
    const text = toJsonText(json, 'json');
    const [config, map] = configTexts(configJson, specialTokensMapJson);
    return new Tokenizer(call(() => NativeTokenizer.fromJson(text, config, map)));
  }

  /** Encodes one text (synchronously). More than one row only with `returnOverflowing`. */
  encode(text: string, options?: EncodeOptions): BatchEncoding {
    return this.encodeBatchSync([checkText(text, 'text')], options);
  }

  /** Encodes one text pair (synchronously). */
  encodePair(text: string, pair: string, options?: EncodeOptions): BatchEncoding {
    return this.encodeBatchSync([[checkText(text, 'text'), checkText(pair, 'pair')]], options);
  }

  /**
   * Encodes a batch without blocking the event loop for long: on the libuv thread pool, except
   * a batch of at most `SYNC_ENCODE_MAX_CHARS` characters in all, which is encoded on the calling
   * thread (a short sentence takes well under 0.1 ms, less than the hop to the pool and back)
   * when it is the first such batch in this turn of the event loop.
   */
  async encodeBatch(inputs: TokenizerInput[], options?: EncodeOptions): Promise<BatchEncoding> {
    const [texts, pairs] = splitInputs(inputs);
    const [opts, ownPadding] = this.#nativeOptions(options);
    if (charCount(texts, pairs) <= SYNC_ENCODE_MAX_CHARS && takeSyncTurn()) {
      return this.#encodeHere(texts, pairs, opts, ownPadding);
    }
    let pending: Promise<NativeEncoding>;
    try {
      pending = this.native.encodeBatch(texts, pairs, opts);
    } catch (err) {
      throw fromNative(err);
    }
    let enc: BatchEncoding;
    try {
      enc = fromNativeEncoding(await pending);
    } catch (err) {
      throw fromAsync(err);
    }
    return ownPadding ? this.#padded(enc) : enc;
  }

  /** Encodes a batch on the calling thread. */
  encodeBatchSync(inputs: TokenizerInput[], options?: EncodeOptions): BatchEncoding {
    const [texts, pairs] = splitInputs(inputs);
    const [opts, ownPadding] = this.#nativeOptions(options);
    return this.#encodeHere(texts, pairs, opts, ownPadding);
  }

  /** Encodes checked inputs on the calling thread. */
  #encodeHere(
    texts: string[],
    pairs: Array<string | null> | undefined,
    opts: ReturnType<typeof toNativeOptions>,
    ownPadding: boolean,
  ): BatchEncoding {
    const enc = fromNativeEncoding(call(() => this.native.encodeBatchSync(texts, pairs, opts)));
    return ownPadding ? this.#padded(enc) : enc;
  }

  /** Ids to text, as Python `tokenizer.decode`. */
  decode(ids: TokenIds, options?: DecodeOptions): string {
    const u = toIds(ids, 'ids');
    const [skip, clean] = decodeOptions(options);
    return call(() => this.native.decode(u, skip, clean));
  }

  /** Several id sequences to texts. */
  decodeBatch(batch: TokenIds[], options?: DecodeOptions): string[] {
    if (!Array.isArray(batch))
      throw invalid(`batch must be an array of id sequences, got ${describe(batch)}`);
    const rows = batch.map((ids, i) => toIds(ids, `batch[${i}]`));
    const lengths = Uint32Array.from(rows, (r) => r.length);
    const flat = new Uint32Array(lengths.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const r of rows) {
      flat.set(r, at);
      at += r.length;
    }
    const [skip, clean] = decodeOptions(options);
    return call(() => this.native.decodeBatch(flat, lengths, skip, clean));
  }

  /**
   * Incremental decoding for streaming. Each `step(id)` returns the text that id completes (''
   * while a UTF-8 character split across byte-level tokens, or a SentencePiece `▁` word, is
   * incomplete); the steps, plus `flush()` (normally ''), concatenate to
   * `decode(ids, { skip_special_tokens, clean_up_tokenization_spaces: false })`.
   */
  decodeStream(options?: { skip_special_tokens?: boolean }): DecodeStream {
    const [skip] = decodeOptions(options);
    const native = call(() => this.native.decodeStream(skip));
    return {
      step: (id: number) => call(() => native.step(id)),
      flush: () => call(() => native.flush()),
    };
  }

  /** Vocabulary strings of ids (`##ing`, `Ġworld`, `▁world`). */
  convertIdsToTokens(ids: TokenIds, options?: { skip_special_tokens?: boolean }): string[] {
    const u = toIds(ids, 'ids');
    const [skip] = decodeOptions(options);
    return call(() => this.native.convertIdsToTokens(u, skip));
  }

  /** The tokenizer's decoder run on token strings (Python `convert_tokens_to_string`). */
  convertTokensToString(tokens: string[]): string {
    if (!Array.isArray(tokens)) throw invalid(`tokens must be an array of strings, got ${describe(tokens)}`);
    for (const [i, t] of tokens.entries()) checkText(t, `tokens[${i}]`);
    return call(() => this.native.convertTokensToString(tokens));
  }

  /** The id of a token, or null when it is not in the vocabulary. */
  tokenToId(token: string): number | null {
    return call(() => this.native.tokenToId(checkText(token, 'token')));
  }

  /** `model_max_length`, or null when the model states no limit. */
  get modelMaxLength(): number | null {
    return this.native.modelMaxLength;
  }

  get paddingSide(): Side {
    return this.native.paddingSide as Side;
  }

  get truncationSide(): Side {
    return this.native.truncationSide as Side;
  }

  /** Number of ids, added tokens included (Python `len(tokenizer)`). */
  get vocabSize(): number {
    return this.native.vocabSize;
  }

  /** Default of `decode`'s `clean_up_tokenization_spaces`. */
  get cleanUpTokenizationSpaces(): boolean {
    return this.native.cleanUpTokenizationSpaces;
  }

  /** `do_lower_case` from `tokenizer_config.json`, or null. */
  get doLowerCase(): boolean | null {
    return this.native.doLowerCase;
  }

  /** The model's continuing-subword prefix (`##` for WordPiece), or null. */
  get continuingSubwordPrefix(): string | null {
    return this.native.continuingSubwordPrefix;
  }

  /** Named special tokens and their ids. */
  get specialTokens(): SpecialTokens {
    if (this.#special === undefined) {
      const s = this.native.specialTokens;
      const id = (t: string | null | undefined) => (t == null ? null : this.native.tokenToId(t));
      const str = (t: string | null | undefined) => t ?? null;
      this.#special = Object.freeze({
        cls_token: str(s.clsToken),
        sep_token: str(s.sepToken),
        pad_token: str(s.padToken),
        mask_token: str(s.maskToken),
        unk_token: str(s.unkToken),
        bos_token: str(s.bosToken),
        eos_token: str(s.eosToken),
        cls_token_id: id(s.clsToken),
        sep_token_id: id(s.sepToken),
        pad_token_id: id(s.padToken),
        mask_token_id: id(s.maskToken),
        unk_token_id: id(s.unkToken),
        bos_token_id: id(s.bosToken),
        eos_token_id: id(s.eosToken),
      });
    }
    return this.#special;
  }
}

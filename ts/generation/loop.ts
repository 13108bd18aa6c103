/**
 * The decode loop with continuous batching, run by whoever owns the session (the generation
 * worker, or the calling thread inline). Active sequences of one model share each forward pass:
 * their caches are rows of one left-padded batch (attention mask zeros over each row's padding,
 * position ids per row), a request joins after its prompt pass and leaves when it finishes or
 * is cancelled. Greedy and beam results do not depend on batch-mates: padding is masked and
 * every row keeps its own positions. Caches never leave this loop; callers get token events.
 */
import { HfTasksError, InvalidInputError, ModelError, QueueFullError } from '../errors.js';
import type { ModelRunner, TensorLike } from '../runtime/runner.js';
import type { Tokenizer } from '../tokenizer.js';
import type { CacheSlot, DecoderLayout } from './decoder.js';
import { BeamSearch, type DecodingConfig, TokenSampler } from './kernels.js';
import { type EncoderLayout, isSeq2Seq, type Seq2SeqLayout } from './seq2seq.js';

/** Why a sequence ended, in TGI's words. */
export type FinishReason = 'length' | 'eos_token' | 'stop_sequence';

/** What one request asks the loop for (plain data: it crosses threads). */
export interface GenerationRequest {
  /** The decoder's prompt (for an encoder-decoder: the decoder start ids). */
  promptIds: number[];
  /** Encoder-decoder models: the encoder's input ids (run once, before the first decoder step). */
  encoderIds?: number[];
  /**
   * Encoder-decoder models whose encoder takes features (Whisper's `input_features`
   * [1, mel bins, frames]) instead of ids.
   */
  encoderFeatures?: { data: Float32Array; dims: number[] };
  /** Logits processors and warpers (sampling when `doSample`). */
  decoding: DecodingConfig;
  /** Independent rows (sampling with num_return_sequences); 1 for greedy. */
  rows: number;
  /** Seed of the first row's sampler (row i uses seed + i); absent: random. */
  seed?: number;
  /** Beam search instead of greedy/sampling. */
  beam?: {
    numBeams: number;
    lengthPenalty: number;
    earlyStopping: boolean | 'never';
    numReturnSequences: number;
  };
  /** New tokens at most (already bounded by the context). */
  maxNewTokens: number;
  /** Ids that end a sequence as the model's EOS does. */
  eosTokenIds: number[];
  /** Ids that end a sequence and report `stop_sequence` (the pipeline's `stop_sequence`). */
  stopTokenIds?: number[];
  /** Texts that end a sequence once generated (TGI `stop`); the text keeps the stop string. */
  stopStrings?: string[];
  /** Wall-clock limit in seconds from the start of the request. */
  maxTime?: number;
  padTokenId: number;
  /** Send a token event per generated token (greedy and sampling only). */
  stream: boolean;
}

/** A per-token event. `sequence` indexes the request's rows. */
export interface TokenEvent {
  type: 'token';
  sequence: number;
  id: number;
  text: string;
  logprob: number;
}

/** One finished sequence. */
export interface GeneratedSequence {
  ids: number[];
  logprobs: number[];
  finishReason: FinishReason;
  /** Beam search: the length-normalised score. */
  score?: number;
}

export interface GenerationResult {
  sequences: GeneratedSequence[];
}

/** Limits of the loop. */
export interface LoopOptions {
  /** Sum of rows x (prompt + max new tokens) over the active requests; more wait in the queue. Default 65536. */
  maxBatchTokens?: number;
  /** Requests waiting for room; more fail with ERR_QUEUE_FULL. Default 256. */
  maxQueued?: number;
  /** Share forward passes between requests (graphs with position_ids and attention_mask). Default true. */
  batching?: boolean;
}

interface Row {
  seq: Active;
  /** Index of the row within its request (beam slot or sampling row). */
  slot: number;
  /** Real tokens whose keys/values are in the cache. */
  len: number;
  /** The token fed at the next step. */
  next: number;
}

interface SeqRow {
  ids: number[];
  logprobs: number[];
  sampler: TokenSampler | null;
  stream: { step(id: number): string } | null;
  done: FinishReason | null;
}

interface Active {
  req: GenerationRequest;
  emit: (e: TokenEvent) => void;
  resolve: (r: GenerationResult) => void;
  reject: (e: unknown) => void;
  started: number;
  cancelled: boolean;
  cost: number;
  rows: SeqRow[];
  beam: BeamSearch | null;
  generated: number;
  finished: boolean;
}

/** A batch of rows sharing one cache: per slot a [rows, heads, T, headDim] float32 tensor. */
interface Batch {
  rows: Row[];
  /** Columns in the cache (padding included). */
  width: number;
  cache: Float32Array[];
  /**
   * Encoder-decoder models: per cross-attention slot a [rows, heads, encWidth, headDim] tensor,
   * the encoder output [rows, encWidth, hidden] and each row's encoder length (columns past it
   * are zero padding, masked by encoder_attention_mask).
   */
  cross: Float32Array[];
  hidden: Float32Array | null;
  encLens: number[];
  encWidth: number;
}

/** The encoder and the first-step decoder of an encoder-decoder model. */
export interface Seq2SeqParts {
  encoder: ModelRunner;
  encoderLayout: EncoderLayout;
  /** The graph of the first decoder step (the merged decoder itself, or decoder_model.onnx). */
  first: ModelRunner;
}

export interface Submitted {
  result: Promise<GenerationResult>;
  cancel(): void;
}

function now(): number {
  return performance.now();
}

export class GenerationLoop {
  readonly #runner: ModelRunner;
  readonly #layout: DecoderLayout;
  readonly #tokenizer: Tokenizer;
  readonly #maxBatchTokens: number;
  readonly #maxQueued: number;
  readonly #batching: boolean;
  readonly #parts: Seq2SeqParts | null;
  readonly #queue: Active[] = [];
  #batches: Batch[] = [];
  #activeCost = 0;
  #running = false;
  #closed = false;
  /** Forward passes run so far (prompt passes and decode steps). */
  steps = 0;
  /** Largest number of rows one decode step carried. */
  maxRowsPerStep = 0;

  constructor(
    runner: ModelRunner,
    layout: DecoderLayout,
    tokenizer: Tokenizer,
    options: LoopOptions = {},
    parts: Seq2SeqParts | null = null,
  ) {
    if (isSeq2Seq(layout) !== (parts !== null)) {
      throw new HfTasksError(
        'ERR_INVALID_ARGUMENT',
        'an encoder-decoder layout needs its encoder and first-step decoder (and only it does)',
      );
    }
    this.#runner = runner;
    this.#parts = parts;
    this.#layout = layout;
    this.#tokenizer = tokenizer;
    this.#maxBatchTokens = options.maxBatchTokens ?? 65536;
    this.#maxQueued = options.maxQueued ?? 256;
    for (const [name, v] of [
      ['maxBatchTokens', this.#maxBatchTokens],
      ['maxQueued', this.#maxQueued],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new HfTasksError('ERR_INVALID_ARGUMENT', `${name} must be an integer >= 1 (got ${String(v)})`);
      }
    }
    // Left-padded rows need explicit positions: without position_ids some graphs count positions
    // from the past length, so each request then runs in a batch of its own. Encoder-decoder
    // decoders take no decoder mask: rows of equal length share a batch (no padding at all).
    this.#batching =
      (options.batching ?? true) &&
      (parts !== null || (layout.positionIds !== null && layout.attentionMask !== null));
  }

  /** Requests waiting for room. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Rows being decoded. */
  get activeRows(): number {
    return this.#batches.reduce((n, b) => n + b.rows.filter((r) => !r.seq.finished).length, 0);
  }

  submit(req: GenerationRequest, emit: (e: TokenEvent) => void = () => undefined): Submitted {
    let active: Active | null = null;
    const result = new Promise<GenerationResult>((resolve, reject) => {
      if (this.#closed) {
        reject(new ModelError('ERR_DISPOSED', 'the generation engine has been disposed'));
        return;
      }
      if (this.#queue.length >= this.#maxQueued) {
        reject(
          new QueueFullError(
            `the generation queue is full (${this.#maxQueued} requests waiting); retry later or raise maxQueued`,
          ),
        );
        return;
      }
      const width = req.beam?.numBeams ?? req.rows;
      active = {
        req,
        emit,
        resolve,
        reject,
        started: now(),
        cancelled: false,
        cost: width * (req.promptIds.length + (req.encoderIds?.length ?? 0) + req.maxNewTokens),
        rows: [],
        beam: null,
        generated: 0,
        finished: false,
      };
      this.#queue.push(active);
      this.#kick();
    });
    return {
      result,
      cancel: () => {
        if (active !== null) active.cancelled = true;
        this.#kick();
      },
    };
  }

  /** Fails queued and running requests; the loop stops. */
  close(reason: Error): void {
    this.#closed = true;
    for (const a of this.#queue.splice(0)) a.reject(reason);
    for (const b of this.#batches) for (const r of b.rows) this.#fail(r.seq, reason);
    this.#batches = [];
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = true;
    // The loop runs as a detached task; errors end the requests they belong to.
    setImmediate(() => {
      void this.#run().finally(() => {
        this.#running = false;
        if (this.#queue.length > 0 || this.#batches.length > 0) this.#kick();
      });
    });
  }

  async #run(): Promise<void> {
    while (!this.#closed && (this.#queue.length > 0 || this.#batches.length > 0)) {
      this.#retire();
      await this.#admit();
      this.#retire();
      for (const batch of [...this.#batches]) {
        if (batch.rows.length === 0) continue;
        try {
          await this.#step(batch);
        } catch (err) {
          for (const r of batch.rows) this.#fail(r.seq, err);
          batch.rows = [];
        }
      }
      this.#retire();
      // Let other callbacks (new requests, cancels) in between steps.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  #fail(a: Active, err: unknown): void {
    if (a.finished) return;
    a.finished = true;
    this.#activeCost -= a.cost;
    a.reject(err);
  }

  /** Admits queued requests while the token budget allows; runs their prompt passes. */
  async #admit(): Promise<void> {
    while (this.#queue.length > 0) {
      const a = this.#queue[0] as Active;
      if (a.cancelled) {
        this.#queue.shift();
        a.reject(new HfTasksError('ERR_ABORTED', 'the generation was cancelled'));
        continue;
      }
      const busy = this.#batches.some((b) => b.rows.length > 0);
      if (busy && this.#activeCost + a.cost > this.#maxBatchTokens) return;
      this.#queue.shift();
      this.#activeCost += a.cost;
      try {
        const batch = await this.#prefill(a);
        if (a.finished) continue;
        // Encoder-decoder rows join only a batch at the same decoder length (no decoder mask).
        const main = this.#batches.find(
          (b) => b.rows.length > 0 && (this.#parts === null || b.width === batch.width),
        );
        if (this.#batching && main !== undefined) this.#merge(main, batch);
        else this.#batches.push(batch);
      } catch (err) {
        this.#fail(a, err);
      }
    }
  }

  #feeds(
    ids: BigInt64Array,
    rows: number,
    seq: number,
    positions: BigInt64Array,
    mask: BigInt64Array,
    pastWidth: number,
    cache: Float32Array[] | null,
    first: boolean,
  ): Record<string, TensorLike> {
    const L = this.#layout;
    const feeds: Record<string, TensorLike> = {
      [L.inputIds]: { type: 'int64', data: ids, dims: [rows, seq] },
    };
    if (L.attentionMask !== null)
      feeds[L.attentionMask] = { type: 'int64', data: mask, dims: [rows, pastWidth + seq] };
    if (L.positionIds !== null) feeds[L.positionIds] = { type: 'int64', data: positions, dims: [rows, seq] };
    if (L.useCacheBranch !== null)
      feeds[L.useCacheBranch] = { type: 'bool', data: Uint8Array.of(first ? 0 : 1), dims: [1] };
    if (L.logitsToKeep !== null)
      feeds[L.logitsToKeep] = { type: 'int64', data: BigInt64Array.of(1n), dims: [] };
    L.cache.forEach((slot, i) => {
      feeds[slot.past] = {
        type: 'float32',
        data: cache === null ? new Float32Array(0) : (cache[i] as Float32Array),
        dims: [rows, slot.heads, pastWidth, slot.headDim],
      };
    });
    return feeds;
  }

  async #forward(
    feeds: Record<string, TensorLike>,
    rows: number,
    runner: ModelRunner = this.#runner,
    crossSlots: readonly CacheSlot[] = [],
  ): Promise<Forwarded> {
    const L = this.#layout;
    const wanted = [L.logits, ...L.cache.map((c) => c.present), ...crossSlots.map((c) => c.present)];
    // Feed only what the graph declares (a first-step decoder takes no caches).
    const names = new Set(runner.inputNames);
    const given = Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k)));
    const out = await runner.run(given, { outputs: wanted });
    this.steps++;
    this.maxRowsPerStep = Math.max(this.maxRowsPerStep, rows);
    const logits = out[L.logits];
    if (logits === undefined || logits.type !== 'float32' || logits.dims.length < 2) {
      throw new ModelError('ERR_MODEL_RUN', 'the model returned no float logits');
    }
    const vocab = logits.dims[logits.dims.length - 1] as number;
    const perRow = (logits.data.length / rows) | 0;
    // Keep only each row's last position.
    const last = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) {
      last.set(
        (logits.data as Float32Array).subarray(r * perRow + perRow - vocab, r * perRow + perRow),
        r * vocab,
      );
    }
    const tensor = (c: CacheSlot) => {
      const t = out[c.present];
      if (t === undefined || t.type !== 'float32')
        throw new ModelError('ERR_MODEL_RUN', `the model returned no ${c.present}`);
      return t.data as Float32Array;
    };
    return { logits: last, vocab, cache: L.cache.map(tensor), cross: crossSlots.map(tensor) };
  }

  /** Encoder-decoder: the feeds every decoder step shares (encoder mask, output, cross caches). */
  #crossFeeds(
    rows: number,
    encWidth: number,
    encLens: readonly number[],
    hidden: Float32Array | null,
    cross: Float32Array[] | null,
  ): Record<string, TensorLike> {
    const X = (this.#layout as Seq2SeqLayout).seq2seq;
    const feeds: Record<string, TensorLike> = {};
    if (X.encoderAttentionMask !== null) {
      const mask = new BigInt64Array(rows * encWidth);
      encLens.forEach((n, i) => {
        mask.fill(1n, i * encWidth, i * encWidth + n);
      });
      feeds[X.encoderAttentionMask] = { type: 'int64', data: mask, dims: [rows, encWidth] };
    }
    if (hidden !== null) {
      feeds[X.encoderHiddenStates] = { type: 'float32', data: hidden, dims: [rows, encWidth, X.hiddenSize] };
    }
    X.cross.forEach((slot, i) => {
      feeds[slot.past] = {
        type: 'float32',
        data: cross === null ? new Float32Array(0) : (cross[i] as Float32Array),
        dims: [rows, slot.heads, cross === null ? 0 : encWidth, slot.headDim],
      };
    });
    return feeds;
  }

  /**
   * Encoder-decoder: runs the encoder on a request's input ids (or features); its output
   * [1, length, hidden] and the length.
   */
  async #encode(
    parts: Seq2SeqParts,
    req: GenerationRequest,
  ): Promise<{ hidden: Float32Array; length: number }> {
    const E = parts.encoderLayout;
    const feeds: Record<string, TensorLike> = {};
    if (req.encoderFeatures !== undefined) {
      const f = req.encoderFeatures;
      feeds[E.inputIds] = { type: 'float32', data: f.data, dims: f.dims };
    } else {
      const ids = req.encoderIds ?? [];
      const n = ids.length;
      feeds[E.inputIds] = { type: 'int64', data: BigInt64Array.from(ids, (x) => BigInt(x)), dims: [1, n] };
      if (E.attentionMask !== null)
        feeds[E.attentionMask] = { type: 'int64', data: new BigInt64Array(n).fill(1n), dims: [1, n] };
    }
    const out = await parts.encoder.run(feeds, { outputs: [E.output] });
    const t = out[E.output];
    const hiddenSize = (this.#layout as Seq2SeqLayout).seq2seq.hiddenSize;
    const length = t === undefined ? 0 : (t.dims[1] ?? 0);
    if (
      t === undefined ||
      t.type !== 'float32' ||
      t.dims.length !== 3 ||
      t.data.length !== length * hiddenSize
    ) {
      throw new ModelError(
        'ERR_MODEL_RUN',
        `the encoder returned no [1, length, ${hiddenSize}] float output`,
      );
    }
    return { hidden: t.data as Float32Array, length };
  }

  /** The prompt pass of one request: a batch of its rows (beams or samples) sharing the prompt cache. */
  async #prefill(a: Active): Promise<Batch> {
    const { req } = a;
    const n = req.promptIds.length;
    const ids = BigInt64Array.from(req.promptIds, (x) => BigInt(x));
    const positions = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
    const mask = new BigInt64Array(n).fill(1n);
    const feeds = this.#feeds(ids, 1, n, positions, mask, 0, null, true);
    const parts = this.#parts;
    let hidden: Float32Array | null = null;
    let encLen = 0;
    let out: Forwarded;
    if (parts !== null) {
      const X = (this.#layout as Seq2SeqLayout).seq2seq;
      const encoded = await this.#encode(parts, req);
      encLen = encoded.length;
      hidden = encoded.hidden;
      Object.assign(feeds, this.#crossFeeds(1, encLen, [encLen], hidden, null));
      out = await this.#forward(feeds, 1, parts.first, X.cross);
    } else {
      out = await this.#forward(feeds, 1);
    }
    const width = req.beam?.numBeams ?? req.rows;
    const sources = new Array<number>(width).fill(0);
    const cache = out.cache.map((c, i) => gatherRows(c, sources, this.#layout.cache[i] as CacheDims, n));
    const batch: Batch = { rows: [], width: n, cache, cross: [], hidden: null, encLens: [], encWidth: 0 };
    if (parts !== null) {
      const X = (this.#layout as Seq2SeqLayout).seq2seq;
      batch.cross = out.cross.map((c, i) => gatherRows(c, sources, X.cross[i] as CacheDims, encLen));
      if (X.hiddenEveryStep)
        batch.hidden = gatherRows(
          hidden as Float32Array,
          sources,
          { heads: 1, headDim: X.hiddenSize },
          encLen,
        );
      batch.encLens = new Array<number>(width).fill(encLen);
      batch.encWidth = encLen;
    }
    const make = (slot: number): Row => ({ seq: a, slot, len: n, next: 0 });
    for (let s = 0; s < width; s++) batch.rows.push(make(s));
    if (req.beam !== undefined) {
      a.beam = new BeamSearch(
        {
          ...req.decoding,
          numBeams: req.beam.numBeams,
          lengthPenalty: req.beam.lengthPenalty,
          earlyStopping: req.beam.earlyStopping,
          numReturnSequences: req.beam.numReturnSequences,
          padTokenId: req.padTokenId,
          maxLength: n + req.maxNewTokens,
        },
        Int32Array.from(req.promptIds),
        req.seed,
      );
      const logits = new Float32Array(width * out.vocab);
      for (let s = 0; s < width; s++) logits.set(out.logits, s * out.vocab);
      this.#beamStep(a, batch, logits);
    } else {
      for (let s = 0; s < width; s++) {
        // The text stream is primed with the prompt, so that pieces continue it (spaces, bytes).
        let stream: SeqRow['stream'] = null;
        if (req.stream) {
          stream = this.#tokenizer.decodeStream({ skip_special_tokens: true });
          for (const id of req.promptIds) stream.step(id);
        }
        a.rows.push({
          ids: [...req.promptIds],
          logprobs: [],
          sampler: new TokenSampler(req.decoding, req.seed === undefined ? undefined : req.seed + s),
          stream,
          done: null,
        });
      }
      a.generated = 0;
      for (const row of batch.rows) this.#choose(a, row, out.logits, 0, out.vocab);
      a.generated = 1;
      this.#checkDone(a);
    }
    return batch;
  }

  /** Greedy/sampling choice for one row from its logits; emits the token event. */
  #choose(a: Active, row: Row, logits: Float32Array, at: number, vocab: number): void {
    const s = a.rows[row.slot] as SeqRow;
    if (s.done !== null) {
      row.next = a.req.padTokenId;
      return;
    }
    const sampler = s.sampler as TokenSampler;
    const { token, logprob } = sampler.next(
      logits.subarray(at * vocab, (at + 1) * vocab),
      Int32Array.from(s.ids),
      a.req.promptIds.length,
    );
    s.ids.push(token);
    s.logprobs.push(logprob);
    row.next = token;
    if (s.stream !== null) {
      a.emit({ type: 'token', sequence: row.slot, id: token, text: s.stream.step(token), logprob });
    }
    const { req } = a;
    if (req.stopTokenIds?.includes(token)) s.done = 'stop_sequence';
    else if (req.eosTokenIds.includes(token)) s.done = 'eos_token';
    else if (req.stopStrings !== undefined && this.#hitsStop(s.ids, req.stopStrings))
      s.done = 'stop_sequence';
    else if (s.ids.length - req.promptIds.length >= req.maxNewTokens) s.done = 'length';
  }

  /**
   * Whether a stop string ends inside the text the last token added. The text is decoded from a
   * window of the last tokens (prompt included, so a match may start inside the prompt, as
   * transformers' stop strings do); a token adds at least a byte, so 4 tokens per character
   * of the longest stop string (and a margin) cover any match.
   */
  #hitsStop(ids: number[], stops: readonly string[]): boolean {
    const longest = Math.max(0, ...stops.map((x) => x.length));
    const window = ids.slice(-(4 * longest + 8));
    // Special tokens stay in (as token strings, like the reference's matcher): "f<unk>WO" is no "fWO".
    const opts = { skip_special_tokens: false, clean_up_tokenization_spaces: false };
    const text = this.#tokenizer.decode(window, opts);
    const before = this.#tokenizer.decode(window.slice(0, -1), opts);
    // Compare up to the last complete character: a held-back byte sequence decodes as U+FFFD.
    let common = 0;
    while (common < before.length && common < text.length && before[common] === text[common]) common++;
    const added = text.length - common;
    return added > 0 && endsInStop(text, added, stops);
  }

  #checkDone(a: Active): void {
    if (a.finished) return;
    const timeUp = a.req.maxTime !== undefined && (now() - a.started) / 1000 > a.req.maxTime;
    if (timeUp) for (const s of a.rows) s.done ??= 'length';
    if (a.rows.every((s) => s.done !== null)) {
      a.finished = true;
      this.#activeCost -= a.cost;
      const n = a.req.promptIds.length;
      a.resolve({
        sequences: a.rows.map((s) => ({
          ids: s.ids.slice(n),
          logprobs: s.logprobs,
          finishReason: s.done as FinishReason,
        })),
      });
    }
  }

  #beamStep(a: Active, batch: Batch, logits: Float32Array): void {
    const beam = a.beam as BeamSearch;
    const stopStrings = a.req.stopStrings;
    // max_time and stop strings are stopping criteria of every candidate, as transformers runs them.
    const timeUp = a.req.maxTime !== undefined && (now() - a.started) / 1000 > a.req.maxTime;
    const { beamIndices, tokens, done } = beam.step(logits, {
      stopAll: timeUp,
      ...(stopStrings !== undefined && {
        isStop: (candidate: Int32Array) => this.#hitsStop(Array.from(candidate), stopStrings),
      }),
    });
    a.generated++;
    if (done || a.generated >= a.req.maxNewTokens) {
      const { sequences, scores, lengths } = beam.finalize();
      a.finished = true;
      this.#activeCost -= a.cost;
      const stops = new Set(a.req.stopTokenIds ?? []);
      const eos = new Set([...a.req.eosTokenIds, ...stops]);
      a.resolve({
        sequences: sequences.map((ids, i) => {
          const kept = [...ids.subarray(0, lengths[i] ?? ids.length)];
          const last = kept[kept.length - 1];
          const ended = last !== undefined && eos.has(last);
          const stopped =
            !ended && stopStrings !== undefined && this.#hitsStop([...a.req.promptIds, ...kept], stopStrings);
          const finishReason: FinishReason = stopped
            ? 'stop_sequence'
            : !ended
              ? 'length'
              : stops.has(last)
                ? 'stop_sequence'
                : 'eos_token';
          return { ids: kept, logprobs: [], finishReason, score: scores[i] as number };
        }),
      });
      return;
    }
    // Reorder this request's rows by the chosen beams and feed the new tokens.
    const rowsOf = batch.rows.map((r, i) => [r, i] as const).filter(([r]) => r.seq === a);
    const sources = batch.rows.map((_, i) => i);
    rowsOf.forEach(([row, at], k) => {
      const from = rowsOf[beamIndices[k] as number];
      if (from === undefined) throw new ModelError('ERR_INTERNAL', 'beam search returned a bad beam index');
      sources[at] = from[1];
      row.next = tokens[k] as number;
      row.len = from[0].len;
    });
    if (sources.some((s, i) => s !== i)) {
      batch.cache = batch.cache.map((c, i) =>
        gatherRows(c, sources, this.#layout.cache[i] as CacheDims, batch.width),
      );
    }
  }

  /** One decode step over a batch. */
  async #step(batch: Batch): Promise<void> {
    const rows = batch.rows.length;
    const T = batch.width;
    const ids = new BigInt64Array(rows);
    const positions = new BigInt64Array(rows);
    const mask = new BigInt64Array(rows * (T + 1));
    batch.rows.forEach((r, i) => {
      ids[i] = BigInt(r.next);
      positions[i] = BigInt(r.len);
      mask.fill(1n, i * (T + 1) + (T - r.len), (i + 1) * (T + 1));
    });
    const feeds = this.#feeds(ids, rows, 1, positions, mask, T, batch.cache, false);
    if (this.#parts !== null) {
      if (batch.rows.some((r) => r.len !== T))
        throw new ModelError('ERR_INTERNAL', 'encoder-decoder rows of one batch differ in length');
      Object.assign(feeds, this.#crossFeeds(rows, batch.encWidth, batch.encLens, batch.hidden, batch.cross));
    }
    const out = await this.#forward(feeds, rows);
    batch.cache = out.cache;
    batch.width = T + 1;
    for (const r of batch.rows) r.len++;
    const seen = new Set<Active>();
    batch.rows.forEach((r, i) => {
      if (r.seq.finished || r.seq.cancelled) return;
      if (r.seq.beam === null) this.#choose(r.seq, r, out.logits, i, out.vocab);
      seen.add(r.seq);
    });
    for (const a of seen) {
      if (a.beam !== null) {
        const idx = batch.rows.map((r, i) => (r.seq === a ? i : -1)).filter((i) => i >= 0);
        const logits = new Float32Array(idx.length * out.vocab);
        idx.forEach((at, k) => {
          logits.set(out.logits.subarray(at * out.vocab, (at + 1) * out.vocab), k * out.vocab);
        });
        try {
          this.#beamStep(a, batch, logits);
        } catch (err) {
          this.#fail(a, err);
        }
      } else {
        a.generated++;
        this.#checkDone(a);
      }
    }
  }

  /** Drops finished and cancelled requests' rows (freeing their cache) and trims shared padding. */
  #retire(): void {
    for (const batch of this.#batches) {
      for (const r of batch.rows) {
        if (r.seq.cancelled && !r.seq.finished)
          this.#fail(r.seq, new HfTasksError('ERR_ABORTED', 'the generation was cancelled'));
      }
      const keep = batch.rows.map((r, i) => [r, i] as const).filter(([r]) => !r.seq.finished);
      if (keep.length === batch.rows.length) continue;
      batch.rows = keep.map(([r]) => r);
      if (batch.rows.length === 0) {
        batch.cache = [];
        batch.cross = [];
        batch.hidden = null;
        continue;
      }
      if (this.#parts !== null)
        this.#keepCross(
          batch,
          keep.map(([, i]) => i),
        );
      const maxLen = Math.max(...batch.rows.map((r) => r.len));
      const sources = keep.map(([, i]) => i);
      batch.cache = batch.cache.map((c, i) => {
        const dims = this.#layout.cache[i] as CacheDims;
        return cutLeft(
          gatherRows(c, sources, dims, batch.width),
          batch.rows.length,
          dims,
          batch.width,
          batch.width - maxLen,
        );
      });
      batch.width = maxLen;
    }
    this.#batches = this.#batches.filter((b) => b.rows.length > 0);
  }

  /** Encoder-decoder: keeps rows `sources` of the cross caches, narrowed to the longest encoder input left. */
  #keepCross(batch: Batch, sources: number[]): void {
    const X = (this.#layout as Seq2SeqLayout).seq2seq;
    const lens = sources.map((s) => batch.encLens[s] as number);
    const to = Math.max(...lens);
    const cut = (c: Float32Array, d: CacheDims) =>
      cutRight(gatherRows(c, sources, d, batch.encWidth), sources.length, d, batch.encWidth, to);
    batch.cross = batch.cross.map((c, i) => cut(c, X.cross[i] as CacheDims));
    if (batch.hidden !== null) batch.hidden = cut(batch.hidden, { heads: 1, headDim: X.hiddenSize });
    batch.encLens = lens;
    batch.encWidth = to;
  }

  /** Moves `add`'s rows into `into`, left-padding whichever cache is shorter. */
  #merge(into: Batch, add: Batch): void {
    if (this.#parts !== null) {
      // Cross caches and encoder outputs: right-padded to the longer encoder input (masked).
      const X = (this.#layout as Seq2SeqLayout).seq2seq;
      const to = Math.max(into.encWidth, add.encWidth);
      const join = (a: Float32Array, b: Float32Array, d: CacheDims) => {
        const left = padRight(a, into.rows.length, d, into.encWidth, to);
        const right = padRight(b, add.rows.length, d, add.encWidth, to);
        const out = new Float32Array(left.length + right.length);
        out.set(left, 0);
        out.set(right, left.length);
        return out;
      };
      into.cross = into.cross.map((c, i) => join(c, add.cross[i] as Float32Array, X.cross[i] as CacheDims));
      if (into.hidden !== null && add.hidden !== null)
        into.hidden = join(into.hidden, add.hidden, { heads: 1, headDim: X.hiddenSize });
      into.encLens = [...into.encLens, ...add.encLens];
      into.encWidth = to;
    }
    const width = Math.max(into.width, add.width);
    into.cache = into.cache.map((c, i) => {
      const dims = this.#layout.cache[i] as CacheDims;
      const a = padLeft(c, into.rows.length, dims, into.width, width);
      const b = padLeft(add.cache[i] as Float32Array, add.rows.length, dims, add.width, width);
      const out = new Float32Array(a.length + b.length);
      out.set(a, 0);
      out.set(b, a.length);
      return out;
    });
    into.width = width;
    into.rows.push(...add.rows);
    add.rows = [];
  }
}

/** One forward pass's last-position logits and caches. */
interface Forwarded {
  logits: Float32Array;
  vocab: number;
  cache: Float32Array[];
  cross: Float32Array[];
}

interface CacheDims {
  heads: number;
  headDim: number;
}

/** Rows `sources` (in that order) of a [rows, heads, width, headDim] cache. */
function gatherRows(c: Float32Array, sources: number[], d: CacheDims, width: number): Float32Array {
  const rowSize = d.heads * width * d.headDim;
  const out = new Float32Array(sources.length * rowSize);
  sources.forEach((s, i) => {
    out.set(c.subarray(s * rowSize, (s + 1) * rowSize), i * rowSize);
  });
  return out;
}

/** Widens every row's [width, headDim] blocks to `to` columns with zero columns on the left. */
function padLeft(c: Float32Array, rows: number, d: CacheDims, width: number, to: number): Float32Array {
  if (to === width) return c;
  const out = new Float32Array(rows * d.heads * to * d.headDim);
  const block = width * d.headDim;
  const wide = to * d.headDim;
  for (let b = 0; b < rows * d.heads; b++) {
    out.set(c.subarray(b * block, (b + 1) * block), b * wide + (to - width) * d.headDim);
  }
  return out;
}

/** Widens every row's [width, headDim] blocks to `to` columns with zero columns on the right. */
function padRight(c: Float32Array, rows: number, d: CacheDims, width: number, to: number): Float32Array {
  if (to === width) return c;
  const out = new Float32Array(rows * d.heads * to * d.headDim);
  const block = width * d.headDim;
  const wide = to * d.headDim;
  for (let b = 0; b < rows * d.heads; b++) out.set(c.subarray(b * block, (b + 1) * block), b * wide);
  return out;
}

/** Keeps the `to` leftmost columns of every row. */
function cutRight(c: Float32Array, rows: number, d: CacheDims, width: number, to: number): Float32Array {
  if (to === width) return c;
  const out = new Float32Array(rows * d.heads * to * d.headDim);
  const block = width * d.headDim;
  const narrow = to * d.headDim;
  for (let b = 0; b < rows * d.heads; b++) out.set(c.subarray(b * block, b * block + narrow), b * narrow);
  return out;
}

/** Drops the `cut` leftmost columns of every row. */
function cutLeft(c: Float32Array, rows: number, d: CacheDims, width: number, cut: number): Float32Array {
  if (cut <= 0) return c;
  const to = width - cut;
  const out = new Float32Array(rows * d.heads * to * d.headDim);
  const block = width * d.headDim;
  const narrow = to * d.headDim;
  for (let b = 0; b < rows * d.heads; b++) {
    out.set(c.subarray(b * block + cut * d.headDim, (b + 1) * block), b * narrow);
  }
  return out;
}

/** Whether a stop string ends inside the last `pieceLength` characters of `text`. */
export function endsInStop(text: string, pieceLength: number, stops: readonly string[]): boolean {
  for (const stop of stops) {
    if (stop === '') continue;
    const from = Math.max(0, text.length - pieceLength - stop.length + 1);
    const at = text.indexOf(stop, from);
    if (at >= 0 && at + stop.length > text.length - pieceLength) return true;
  }
  return false;
}

/** Checks a request before it is queued (bad ones never reach the loop). */
export function checkRequest(req: GenerationRequest, layout: DecoderLayout): void {
  if (req.promptIds.length === 0)
    throw new InvalidInputError('ERR_INVALID_INPUT', 'the prompt has no tokens');
  if (layout.contextLength !== null && req.promptIds.length >= layout.contextLength) {
    throw new InvalidInputError(
      'ERR_INVALID_INPUT',
      `the prompt is ${req.promptIds.length} tokens long; this model holds ${layout.contextLength} positions, so at most ${layout.contextLength - 1} prompt tokens leave room to generate`,
    );
  }
}

/**
 * The decode loop with continuous batching, run by whoever owns the session (the generation
 * worker, or the calling thread inline). Active sequences of one model share each forward pass:
 * their caches are rows of one left-padded batch (attention mask zeros over each row's padding,
 * position ids per row), a request joins after its prompt pass and leaves when it finishes or
 * is cancelled. Greedy and beam results do not depend on batch-mates: padding is masked and
 * every row keeps its own positions. Caches never leave this loop; callers get token events.
 *
 * On a runner that keeps outputs on the device (a WebGPU session opened with its present.*
 * outputs as device outputs), the caches stay there: each step feeds the previous step's
 * present.* tensors back as its past inputs, and rows that join, leave or are reordered by beam
 * search are gathered, cut and joined by helper graphs on the same device. Every device tensor
 * is freed when replaced, when its batch ends or fails, and when the loop closes.
 */
import {
  HfTasksError,
  InvalidInputError,
  InvalidParameterError,
  ModelError,
  QueueFullError,
} from '../errors.js';
import { type DeviceOps, type DeviceTensor, isDeviceTensor } from '../runtime/device-tensor.js';
import type { ModelRunner, RunOptions, TensorLike } from '../runtime/runner.js';
import type { Tokenizer } from '../tokenizer.js';
import {
  type CacheDims,
  type CacheTensor,
  freeCaches,
  joinCaches,
  replaceCaches,
  takeCaches,
} from './caches.js';
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
  /**
   * Keep the key/value caches (and an encoder-decoder's encoder output) in GPU memory between
   * decoding steps instead of copying them through host memory at every step. Default: on where
   * the model runs on WebGPU; `false` turns it off. No effect on the CPU, nor on CUDA, where
   * onnxruntime-node 1.23 offers no device outputs (its device tensors are WebGPU buffers).
   */
  deviceCache?: boolean;
}

/** A runner that can keep outputs on its device (an inline WebGPU session). */
export interface DeviceRunner extends ModelRunner {
  readonly deviceOutputs: readonly string[];
  readonly deviceOps: DeviceOps | null;
  runOnDevice(
    feeds: Record<string, TensorLike | DeviceTensor>,
    opts?: RunOptions,
  ): Promise<Record<string, TensorLike | DeviceTensor>>;
}

/** Whether `runner` keeps every output of `names` on its device. */
function keepsOnDevice(runner: ModelRunner, names: readonly string[]): runner is DeviceRunner {
  const r = runner as Partial<DeviceRunner>;
  return (
    typeof r.runOnDevice === 'function' &&
    r.deviceOps !== null &&
    r.deviceOps !== undefined &&
    names.every((n) => r.deviceOutputs?.includes(n) === true)
  );
}

/** What the loop reports about its caches (for tests and diagnostics). */
export interface LoopStats {
  /** Forward passes run so far (prompt passes and decode steps). */
  steps: number;
  /** Decode steps whose past caches were fed from device tensors. */
  deviceSteps: number;
  /** Whether the caches are kept on the device. */
  deviceCache: boolean;
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
  cache: CacheTensor[];
  /**
   * Encoder-decoder models: per cross-attention slot a [rows, heads, encWidth, headDim] tensor,
   * the encoder output [rows, encWidth, hidden] and each row's encoder length (columns past it
   * are zero padding, masked by encoder_attention_mask).
   */
  cross: CacheTensor[];
  hidden: CacheTensor | null;
  encLens: number[];
  encWidth: number;
  /**
   * The encoder input's length when the decoder's encoder_attention_mask is read at that length
   * rather than the encoder output's (Moonshine's sample-level mask, which its decoder
   * subsamples by the ratio of the two lengths): such a batch holds one request's rows and joins
   * no other batch, so the ratio stays the request's own.
   */
  maskLen: number | null;
}

/** Every cache tensor a batch holds (self-attention, cross-attention, encoder output). */
function heldCaches(b: Batch): CacheTensor[] {
  return [...b.cache, ...b.cross, ...(b.hidden === null ? [] : [b.hidden])];
}

/** Frees a batch's device tensors and empties it. */
function freeBatch(b: Batch): void {
  freeCaches(heldCaches(b));
  b.cache = [];
  b.cross = [];
  b.hidden = null;
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
  /** Token strings of the stop-string matcher, by id (see `#pieceOf`). */
  readonly #pieces = new Map<number, string>();
  #stopPrefix: string[] | null = null;
  readonly #maxBatchTokens: number;
  readonly #maxQueued: number;
  readonly #batching: boolean;
  readonly #parts: Seq2SeqParts | null;
  readonly #queue: Active[] = [];
  #batches: Batch[] = [];
  /** Finished requests whose results wait for their rows to leave (see `#flush`). */
  readonly #done: Array<[Active, GenerationResult]> = [];
  #activeCost = 0;
  #running: Promise<void> | null = null;
  #closed = false;
  #closeReason: Error | null = null;
  /** Helper graphs on the device holding the caches; null when the caches are host arrays. */
  readonly #ops: DeviceOps | null;
  /** Whether the encoder's output stays on the device too. */
  readonly #encoderOnDevice: boolean;
  /** Forward passes run so far (prompt passes and decode steps). */
  steps = 0;
  /** Decode steps whose past caches were fed from device tensors. */
  deviceSteps = 0;
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
    if (options.deviceCache !== undefined && typeof options.deviceCache !== 'boolean') {
      throw new HfTasksError(
        'ERR_INVALID_ARGUMENT',
        `deviceCache must be true or false (got ${String(options.deviceCache)})`,
      );
    }
    // Left-padded rows need explicit positions: without position_ids some graphs count positions
    // from the past length, so each request then runs in a batch of its own. Encoder-decoder
    // decoders take no decoder mask: rows of equal length share a batch (no padding at all).
    this.#batching =
      (options.batching ?? true) &&
      (parts !== null || (layout.positionIds !== null && layout.attentionMask !== null));
    // Device caches: every graph that makes a cache keeps it on the device.
    const self = layout.cache.map((c) => c.present);
    const cross = isSeq2Seq(layout) ? layout.seq2seq.cross.map((c) => c.present) : [];
    const onDevice =
      options.deviceCache !== false &&
      keepsOnDevice(runner, self) &&
      (parts === null || keepsOnDevice(parts.first, [...self, ...cross]));
    this.#ops = onDevice ? (runner as DeviceRunner).deviceOps : null;
    this.#encoderOnDevice =
      onDevice && parts !== null && keepsOnDevice(parts.encoder, [parts.encoderLayout.output]);
  }

  /** Whether the caches are kept on the device. */
  get deviceCache(): boolean {
    return this.#ops !== null;
  }

  stats(): LoopStats {
    return { steps: this.steps, deviceSteps: this.deviceSteps, deviceCache: this.deviceCache };
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
    let cancelled = false;
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
      const admit = () => {
        if (this.#closed) {
          reject(new ModelError('ERR_DISPOSED', 'the generation engine has been disposed'));
          return;
        }
        const width = req.beam?.numBeams ?? req.rows;
        active = {
          req,
          emit,
          resolve,
          reject,
          started: now(),
          cancelled,
          cost: width * (req.promptIds.length + (req.encoderIds?.length ?? 0) + req.maxNewTokens),
          rows: [],
          beam: null,
          generated: 0,
          finished: false,
        };
        this.#queue.push(active);
        this.#kick();
      };
      const stops = req.stopStrings;
      // Stop strings that no token can end are refused, as the reference does. The first ids
      // usually settle it at once; otherwise the vocabulary is read in slices between turns of
      // the event loop.
      if (stops === undefined || stops.length === 0 || this.#stopCanEnd(stops, 0, STOP_SCAN_SLICE)) {
        admit();
        return;
      }
      this.#someStopCanEnd(stops, STOP_SCAN_SLICE).then((ok) => {
        if (ok) admit();
        else reject(new InvalidParameterError('stop', STOP_REFUSED));
      }, reject);
    });
    return {
      result,
      cancel: () => {
        cancelled = true;
        if (active !== null) active.cancelled = true;
        this.#kick();
      },
    };
  }

  /**
   * Fails queued and running requests; the loop stops. The caches are freed now, or when the
   * step in flight ends (`idle()` waits for that).
   */
  close(reason: Error): void {
    this.#closed = true;
    this.#closeReason = reason;
    for (const a of this.#queue.splice(0)) a.reject(reason);
    for (const b of this.#batches) for (const r of b.rows) this.#fail(r.seq, reason);
    if (this.#running === null) this.#freeAll();
    this.#flush();
  }

  /** Resolves when no step runs (after `close`, every cache is freed by then). */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  #freeAll(): void {
    for (const b of this.#batches) freeBatch(b);
    this.#batches = [];
  }

  #kick(): void {
    if (this.#running !== null || this.#closed) return;
    // The loop runs as a detached task; errors end the requests they belong to.
    this.#running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#run())
      .catch((err: unknown) => {
        // Not an error of one request (those end their requests): every request ends with it.
        for (const a of this.#queue.splice(0)) a.reject(err);
        for (const b of this.#batches) {
          for (const r of b.rows) this.#fail(r.seq, err);
          freeBatch(b);
        }
        this.#batches = [];
        this.#flush();
      })
      .finally(() => {
        this.#running = null;
        if (this.#closed) this.#freeAll();
        else if (this.#queue.length > 0 || this.#batches.length > 0) this.#kick();
      });
  }

  async #run(): Promise<void> {
    while (!this.#closed && (this.#queue.length > 0 || this.#batches.length > 0)) {
      await this.#retire();
      await this.#admit();
      await this.#retire();
      for (const batch of [...this.#batches]) {
        if (batch.rows.length === 0 || this.#closed) continue;
        try {
          await this.#step(batch);
        } catch (err) {
          for (const r of batch.rows) this.#fail(r.seq, err);
          batch.rows = [];
          freeBatch(batch);
        }
      }
      await this.#retire();
      // Let other callbacks (new requests, cancels) in between steps.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /**
   * Ends a request with its result. The result is delivered by `#flush`, once the request's
   * rows have left their batch (its cache is freed before the caller sees the result).
   */
  #finish(a: Active, result: GenerationResult): void {
    a.finished = true;
    this.#activeCost -= a.cost;
    this.#done.push([a, result]);
  }

  #flush(): void {
    for (const [a, result] of this.#done.splice(0)) a.resolve(result);
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
      let batch: Batch | null = null;
      try {
        batch = await this.#prefill(a);
        if (a.finished || this.#closed) {
          freeBatch(batch);
          // Closed during the prompt pass: the request was in no batch when the loop failed them.
          if (this.#closed) this.#fail(a, this.#closeReason);
          this.#flush();
          if (this.#closed) return;
          continue;
        }
        // Encoder-decoder rows join only a batch at the same decoder length (no decoder mask).
        const width = batch.width;
        const main =
          batch.maskLen !== null
            ? undefined
            : this.#batches.find(
                (b) => b.rows.length > 0 && b.maskLen === null && (this.#parts === null || b.width === width),
              );
        if (this.#batching && main !== undefined) await this.#merge(main, batch);
        else this.#batches.push(batch);
      } catch (err) {
        if (batch !== null && !this.#batches.includes(batch)) freeBatch(batch);
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
    cache: CacheTensor[] | null,
    first: boolean,
  ): Feeds {
    const L = this.#layout;
    const feeds: Feeds = {
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
      feeds[slot.past] = cacheFeed(cache === null ? new Float32Array(0) : (cache[i] as CacheTensor), [
        rows,
        slot.heads,
        pastWidth,
        slot.headDim,
      ]);
    });
    return feeds;
  }

  /** Runs `runner`, keeping the caches on the device when the loop does. */
  #run1(
    runner: ModelRunner,
    feeds: Feeds,
    outputs: string[],
  ): Promise<Record<string, TensorLike | DeviceTensor>> {
    if (this.#ops !== null) return (runner as DeviceRunner).runOnDevice(feeds, { outputs });
    return runner.run(feeds as Record<string, TensorLike>, { outputs });
  }

  async #forward(
    feeds: Feeds,
    rows: number,
    runner: ModelRunner = this.#runner,
    crossSlots: readonly CacheSlot[] = [],
  ): Promise<Forwarded> {
    const L = this.#layout;
    const wanted = [L.logits, ...L.cache.map((c) => c.present), ...crossSlots.map((c) => c.present)];
    // Feed only what the graph declares (a first-step decoder takes no caches).
    const names = new Set(runner.inputNames);
    const given = Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k)));
    const out = await this.#run1(runner, given, wanted);
    try {
      this.steps++;
      this.maxRowsPerStep = Math.max(this.maxRowsPerStep, rows);
      const logits = out[L.logits];
      if (
        logits === undefined ||
        isDeviceTensor(logits) ||
        logits.type !== 'float32' ||
        logits.dims.length < 2
      ) {
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
      const tensor = (c: CacheSlot): CacheTensor => {
        const t = out[c.present];
        if (isDeviceTensor(t)) return t;
        if (t === undefined || t.type !== 'float32')
          throw new ModelError('ERR_MODEL_RUN', `the model returned no ${c.present}`);
        return t.data as Float32Array;
      };
      return { logits: last, vocab, cache: L.cache.map(tensor), cross: crossSlots.map(tensor) };
    } catch (err) {
      freeCaches(Object.values(out).filter(isDeviceTensor));
      throw err;
    }
  }

  /** Encoder-decoder: the feeds every decoder step shares (encoder mask, output, cross caches). */
  #crossFeeds(
    rows: number,
    encWidth: number,
    encLens: readonly number[],
    hidden: CacheTensor | null,
    cross: CacheTensor[] | null,
    maskLen: number | null,
  ): Feeds {
    const X = (this.#layout as Seq2SeqLayout).seq2seq;
    const feeds: Feeds = {};
    if (X.encoderAttentionMask !== null && maskLen !== null) {
      // One request's rows: the encoder input's mask, all ones.
      feeds[X.encoderAttentionMask] = {
        type: 'int64',
        data: new BigInt64Array(rows * maskLen).fill(1n),
        dims: [rows, maskLen],
      };
    } else if (X.encoderAttentionMask !== null) {
      const mask = new BigInt64Array(rows * encWidth);
      encLens.forEach((n, i) => {
        mask.fill(1n, i * encWidth, i * encWidth + n);
      });
      feeds[X.encoderAttentionMask] = { type: 'int64', data: mask, dims: [rows, encWidth] };
    }
    if (hidden !== null) {
      feeds[X.encoderHiddenStates] = cacheFeed(hidden, [rows, encWidth, X.hiddenSize]);
    }
    X.cross.forEach((slot, i) => {
      feeds[slot.past] = cacheFeed(cross === null ? new Float32Array(0) : (cross[i] as CacheTensor), [
        rows,
        slot.heads,
        cross === null ? 0 : encWidth,
        slot.headDim,
      ]);
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
  ): Promise<{ hidden: CacheTensor; length: number; maskLen: number }> {
    const E = parts.encoderLayout;
    const feeds: Record<string, TensorLike> = {};
    // The encoder input's length: samples of raw audio ([1, n]), frames of features
    // ([1, frames, bins]), or tokens.
    let maskLen: number;
    if (req.encoderFeatures !== undefined) {
      const f = req.encoderFeatures;
      feeds[E.inputIds] = { type: 'float32', data: f.data, dims: f.dims };
      maskLen = f.dims[1] ?? 0;
    } else {
      const ids = req.encoderIds ?? [];
      maskLen = ids.length;
      feeds[E.inputIds] = {
        type: 'int64',
        data: BigInt64Array.from(ids, (x) => BigInt(x)),
        dims: [1, maskLen],
      };
    }
    if (E.attentionMask !== null) {
      feeds[E.attentionMask] = {
        type: 'int64',
        data: new BigInt64Array(maskLen).fill(1n),
        dims: [1, maskLen],
      };
    }
    const out = this.#encoderOnDevice
      ? await (parts.encoder as DeviceRunner).runOnDevice(feeds, { outputs: [E.output] })
      : await parts.encoder.run(feeds, { outputs: [E.output] });
    const t = out[E.output];
    const hiddenSize = (this.#layout as Seq2SeqLayout).seq2seq.hiddenSize;
    const length = t === undefined ? 0 : (t.dims[1] ?? 0);
    const ok =
      t !== undefined &&
      t.type === 'float32' &&
      t.dims.length === 3 &&
      t.dims[0] === 1 &&
      t.dims[2] === hiddenSize &&
      (isDeviceTensor(t) || t.data.length === length * hiddenSize);
    if (!ok) {
      freeCaches(Object.values(out).filter(isDeviceTensor));
      throw new ModelError(
        'ERR_MODEL_RUN',
        `the encoder returned no [1, length, ${hiddenSize}] float output`,
      );
    }
    return { hidden: isDeviceTensor(t) ? t : ((t as TensorLike).data as Float32Array), length, maskLen };
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
    const width = req.beam?.numBeams ?? req.rows;
    const batch: Batch = {
      rows: [],
      width: n,
      cache: [],
      cross: [],
      hidden: null,
      encLens: [],
      encWidth: 0,
      maskLen: null,
    };
    // Whatever this pass made is freed if it fails before the batch holds it.
    const made: CacheTensor[] = [];
    try {
      const sources = new Array<number>(width).fill(0);
      let out: Forwarded;
      if (parts !== null) {
        const X = (this.#layout as Seq2SeqLayout).seq2seq;
        const encoded = await this.#encode(parts, req);
        made.push(encoded.hidden);
        const encLen = encoded.length;
        // Only a decoder that reads the encoder's mask cares about its length.
        const maskLen =
          X.encoderAttentionMask !== null && encoded.maskLen !== encLen ? encoded.maskLen : null;
        Object.assign(feeds, this.#crossFeeds(1, encLen, [encLen], encoded.hidden, null, maskLen));
        out = await this.#forward(feeds, 1, parts.first, X.cross);
        made.push(...out.cache, ...out.cross);
        batch.cross = await takeCaches(out.cross, X.cross, 1, sources, encLen, 0, encLen, this.#ops);
        made.push(...batch.cross);
        if (X.hiddenEveryStep) {
          const hidden = await takeCaches(
            [encoded.hidden],
            [{ heads: 1, headDim: X.hiddenSize }],
            1,
            sources,
            encLen,
            0,
            encLen,
            this.#ops,
          );
          batch.hidden = hidden[0] as CacheTensor;
          made.push(batch.hidden);
        }
        batch.encLens = new Array<number>(width).fill(encLen);
        batch.encWidth = encLen;
        batch.maskLen = maskLen;
      } else {
        out = await this.#forward(feeds, 1);
        made.push(...out.cache);
      }
      batch.cache = await takeCaches(out.cache, this.#layout.cache, 1, sources, n, 0, n, this.#ops);
      made.push(...batch.cache);
      // The batch keeps what it holds; the rest (the prompt's own rows, once copied) is freed.
      replaceCaches(made, heldCaches(batch));
      made.length = 0;
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
        const order = batch.rows.map((_, i) => i);
        this.#beamStep(a, batch, logits, order);
        await this.#reorder(batch, order);
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
    } catch (err) {
      freeCaches(made);
      freeBatch(batch);
      throw err;
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
   * Whether a stop string ends inside the text the last token added. As transformers'
   * `StopStringCriteria` does, the text is each token's own string (`#pieceOf`), joined: a
   * character split over several byte tokens is U+FFFD in each piece and never matches. The
   * window of last tokens holds the prompt too, so a match may start inside it.
   */
  #hitsStop(ids: number[], stops: readonly string[]): boolean {
    const last = ids.at(-1);
    if (last === undefined) return false;
    const added = this.#pieceOf(last).length;
    if (added === 0) return false;
    const longest = Math.max(0, ...stops.map((x) => x.length));
    // Walk back until the pieces hold the longest stop string before the last piece.
    let text = '';
    for (let i = ids.length - 1; i >= 0 && text.length < longest + added; i--) {
      text = this.#pieceOf(ids[i] as number) + text;
    }
    return endsInStop(text, added, stops);
  }

  /** `tokenCanEndStop` over ids `[from, to)`. */
  #stopCanEnd(stops: readonly string[], from: number, to: number): boolean {
    return idsCanEndStop((id) => this.#pieceOf(id), stops, from, Math.min(to, this.#tokenizer.vocabSize));
  }

  /** `#stopCanEnd` over the ids from `from` on, a slice per turn of the event loop. */
  #someStopCanEnd(stops: readonly string[], from: number): Promise<boolean> {
    return someTokenEndsStop((id) => this.#pieceOf(id), this.#tokenizer.vocabSize, stops, from);
  }

  /**
   * A token's string as the reference's stop-string matcher reads the vocabulary
   * (`clean_tokenizer_vocab`): the decoder run on a fixed prefix's tokens and the token, with the
   * prefix cut off, so word-start markers (`Ġ`, `▁`) read as spaces and `##` joins.
   */
  #pieceOf(id: number): string {
    let piece = this.#pieces.get(id);
    if (piece !== undefined) return piece;
    const tok = this.#tokenizer;
    if (this.#stopPrefix === null) {
      const prefixIds = tok.encode(STOP_PREFIX, { addSpecialTokens: false }).inputIds;
      this.#stopPrefix = tok.convertIdsToTokens(Array.from(prefixIds, Number));
    }
    const [token = ''] = tok.convertIdsToTokens([id]);
    const text = tok.convertTokensToString([...this.#stopPrefix, token]);
    const at = text.indexOf(STOP_PREFIX);
    piece = at < 0 ? tok.convertTokensToString([token]) : text.slice(at + STOP_PREFIX.length);
    this.#pieces.set(id, piece);
    return piece;
  }

  #checkDone(a: Active): void {
    if (a.finished) return;
    const timeUp = a.req.maxTime !== undefined && (now() - a.started) / 1000 > a.req.maxTime;
    if (timeUp) for (const s of a.rows) s.done ??= 'length';
    if (a.rows.every((s) => s.done !== null)) {
      const n = a.req.promptIds.length;
      this.#finish(a, {
        sequences: a.rows.map((s) => ({
          ids: s.ids.slice(n),
          logprobs: s.logprobs,
          finishReason: s.done as FinishReason,
        })),
      });
    }
  }

  #beamStep(a: Active, batch: Batch, logits: Float32Array, order: number[]): void {
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
      const stops = new Set(a.req.stopTokenIds ?? []);
      const eos = new Set([...a.req.eosTokenIds, ...stops]);
      this.#finish(a, {
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
    // Reorder this request's rows by the chosen beams and feed the new tokens: `order` gets the
    // source row of each of its rows (the caller gathers the cache once for all requests).
    const rowsOf = batch.rows.map((r, i) => [r, i] as const).filter(([r]) => r.seq === a);
    const lens = rowsOf.map(([r]) => r.len);
    rowsOf.forEach(([row, at], k) => {
      const from = rowsOf[beamIndices[k] as number];
      if (from === undefined) throw new ModelError('ERR_INTERNAL', 'beam search returned a bad beam index');
      order[at] = from[1];
      row.next = tokens[k] as number;
      row.len = lens[beamIndices[k] as number] as number;
    });
  }

  /** Gathers the batch's self-attention caches into row order `order` (a no-op for the identity). */
  async #reorder(batch: Batch, order: number[]): Promise<void> {
    const next = await takeCaches(
      batch.cache,
      this.#layout.cache,
      batch.rows.length,
      order,
      batch.width,
      0,
      batch.width,
      this.#ops,
    );
    replaceCaches(batch.cache, next);
    batch.cache = next;
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
      Object.assign(
        feeds,
        this.#crossFeeds(rows, batch.encWidth, batch.encLens, batch.hidden, batch.cross, batch.maskLen),
      );
    }
    const fromDevice = batch.cache.length > 0 && batch.cache.every(isDeviceTensor);
    const out = await this.#forward(feeds, rows);
    if (fromDevice) this.deviceSteps++;
    // The step's present.* outputs replace its past inputs.
    replaceCaches(batch.cache, out.cache);
    batch.cache = out.cache;
    batch.width = T + 1;
    for (const r of batch.rows) r.len++;
    const seen = new Set<Active>();
    batch.rows.forEach((r, i) => {
      if (r.seq.finished || r.seq.cancelled) return;
      if (r.seq.beam === null) this.#choose(r.seq, r, out.logits, i, out.vocab);
      seen.add(r.seq);
    });
    const order = batch.rows.map((_, i) => i);
    for (const a of seen) {
      if (a.beam !== null) {
        const idx = batch.rows.map((r, i) => (r.seq === a ? i : -1)).filter((i) => i >= 0);
        const logits = new Float32Array(idx.length * out.vocab);
        idx.forEach((at, k) => {
          logits.set(out.logits.subarray(at * out.vocab, (at + 1) * out.vocab), k * out.vocab);
        });
        try {
          this.#beamStep(a, batch, logits, order);
        } catch (err) {
          this.#fail(a, err);
        }
      } else {
        a.generated++;
        this.#checkDone(a);
      }
    }
    await this.#reorder(batch, order);
  }

  /** Drops finished and cancelled requests' rows (freeing their cache) and trims shared padding. */
  async #retire(): Promise<void> {
    for (const batch of this.#batches) {
      for (const r of batch.rows) {
        if (r.seq.cancelled && !r.seq.finished)
          this.#fail(r.seq, new HfTasksError('ERR_ABORTED', 'the generation was cancelled'));
      }
      const keep = batch.rows.map((r, i) => [r, i] as const).filter(([r]) => !r.seq.finished);
      if (keep.length === batch.rows.length && keep.length > 0) continue;
      if (keep.length === 0) {
        batch.rows = [];
        freeBatch(batch);
        continue;
      }
      try {
        await this.#keep(
          batch,
          keep.map(([, i]) => i),
        );
        batch.rows = keep.map(([r]) => r);
      } catch (err) {
        for (const r of batch.rows) this.#fail(r.seq, err);
        batch.rows = [];
        freeBatch(batch);
      }
    }
    this.#batches = this.#batches.filter((b) => b.rows.length > 0);
    this.#flush();
  }

  /**
   * Keeps rows `sources` of a batch: the self-attention caches cut to the longest row left, an
   * encoder-decoder's cross caches and encoder output to the longest encoder input left.
   */
  async #keep(batch: Batch, sources: number[]): Promise<void> {
    const count = batch.rows.length;
    const maxLen = Math.max(...sources.map((s) => (batch.rows[s] as Row).len));
    const made: CacheTensor[] = [];
    try {
      const cache = await takeCaches(
        batch.cache,
        this.#layout.cache,
        count,
        sources,
        batch.width,
        batch.width - maxLen,
        batch.width,
        this.#ops,
      );
      made.push(...cache);
      let cross = batch.cross;
      let hidden = batch.hidden;
      const lens = sources.map((s) => batch.encLens[s] as number);
      const to = this.#parts === null ? 0 : Math.max(...lens);
      if (this.#parts !== null) {
        const X = (this.#layout as Seq2SeqLayout).seq2seq;
        cross = await takeCaches(batch.cross, X.cross, count, sources, batch.encWidth, 0, to, this.#ops);
        made.push(...cross);
        if (batch.hidden !== null) {
          const dims = [{ heads: 1, headDim: X.hiddenSize }];
          hidden = (
            await takeCaches([batch.hidden], dims, count, sources, batch.encWidth, 0, to, this.#ops)
          )[0] as CacheTensor;
          made.push(hidden);
        }
      }
      const old = heldCaches(batch);
      replaceCaches(old, made);
      batch.cache = cache;
      batch.cross = cross;
      batch.hidden = hidden;
      batch.width = maxLen;
      if (this.#parts !== null) {
        batch.encLens = lens;
        batch.encWidth = to;
      }
    } catch (err) {
      replaceCaches(made, heldCaches(batch));
      throw err;
    }
  }

  /** Moves `add`'s rows into `into`, left-padding whichever cache is shorter. */
  async #merge(into: Batch, add: Batch): Promise<void> {
    const made: CacheTensor[] = [];
    try {
      let cross = into.cross;
      let hidden = into.hidden;
      let encWidth = into.encWidth;
      if (this.#parts !== null) {
        // Cross caches and encoder outputs: right-padded to the longer encoder input (masked).
        const X = (this.#layout as Seq2SeqLayout).seq2seq;
        encWidth = Math.max(into.encWidth, add.encWidth);
        const join = (a: CacheTensor[], b: CacheTensor[], dims: CacheDims[]) =>
          joinCaches(
            a,
            b,
            dims,
            into.rows.length,
            add.rows.length,
            into.encWidth,
            add.encWidth,
            encWidth,
            'right',
            this.#ops,
          );
        cross = await join(into.cross, add.cross, X.cross);
        made.push(...cross);
        if (into.hidden !== null && add.hidden !== null) {
          hidden = (
            await join([into.hidden], [add.hidden], [{ heads: 1, headDim: X.hiddenSize }])
          )[0] as CacheTensor;
          made.push(hidden);
        }
      }
      const width = Math.max(into.width, add.width);
      const cache = await joinCaches(
        into.cache,
        add.cache,
        this.#layout.cache,
        into.rows.length,
        add.rows.length,
        into.width,
        add.width,
        width,
        'left',
        this.#ops,
      );
      made.push(...cache);
      const old = [into, add].flatMap(heldCaches);
      replaceCaches(old, made);
      into.cache = cache;
      into.cross = cross;
      into.hidden = hidden;
      into.width = width;
      if (this.#parts !== null) {
        into.encLens = [...into.encLens, ...add.encLens];
        into.encWidth = encWidth;
      }
      into.rows.push(...add.rows);
      add.rows = [];
      add.cache = [];
      add.cross = [];
      add.hidden = null;
    } catch (err) {
      const held = [into, add].flatMap(heldCaches);
      replaceCaches(made, held);
      throw err;
    }
  }
}

/** Feeds of one forward pass: host tensors, and caches that may be device tensors. */
type Feeds = Record<string, TensorLike | DeviceTensor>;

/** A cache as a feed of `dims`. */
function cacheFeed(c: CacheTensor, dims: number[]): TensorLike | DeviceTensor {
  return isDeviceTensor(c) ? c : { type: 'float32', data: c, dims };
}

/** One forward pass's last-position logits and caches. */
interface Forwarded {
  logits: Float32Array;
  vocab: number;
  cache: CacheTensor[];
  cross: CacheTensor[];
}

/** The prefix `#pieceOf` decodes a token after (the reference's `static_prefix`). */
const STOP_PREFIX = 'abcdef';
/** Ids read per turn of the event loop when looking for a token that can end a stop string. */
const STOP_SCAN_SLICE = 2048;
const STOP_REFUSED =
  'Stop string preprocessing was unable to identify tokens matching one or more of the supplied stop string(s). This is most often caused by the stop strings containing unusual characters that are not in the tokenizer vocabulary.';

/**
 * Whether a token of string `piece` can end one of `stops`, as transformers' stop-string matcher
 * reads the vocabulary: a leading part of the piece ends with the stop string, or is the stop
 * string's end. transformers refuses stop strings that no token can end (a character only ever
 * written as several byte tokens, say).
 */
export function tokenCanEndStop(piece: string, stops: readonly string[]): boolean {
  for (let n = piece.length; n > 0; n--) {
    const head = piece.slice(0, n);
    if (stops.some((s) => s !== '' && (n >= s.length ? head.endsWith(s) : s.endsWith(head)))) return true;
  }
  return false;
}

/**
 * Whether a token of id `from` or above can end one of `stops` (`tokenCanEndStop`), reading
 * `slice` ids per turn of the event loop, so that a long vocabulary never holds it up.
 */
export async function someTokenEndsStop(
  pieceOf: (id: number) => string,
  vocabSize: number,
  stops: readonly string[],
  from = 0,
  slice = STOP_SCAN_SLICE,
): Promise<boolean> {
  for (let start = from; start < vocabSize; start += slice) {
    await new Promise((resolve) => setImmediate(resolve));
    if (idsCanEndStop(pieceOf, stops, start, Math.min(start + slice, vocabSize))) return true;
  }
  return false;
}

/** `tokenCanEndStop` for the tokens of ids `[from, to)`. */
function idsCanEndStop(
  pieceOf: (id: number) => string,
  stops: readonly string[],
  from: number,
  to: number,
): boolean {
  for (let id = from; id < to; id++) if (tokenCanEndStop(pieceOf(id), stops)) return true;
  return false;
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

/**
 * `pipeline(task, model?, options?)`: loads a model for an HF task and returns a callable pipe
 * whose inputs, parameters and outputs follow the Inference API task contract.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type AudioOptions, resolveAudioOptions } from './audio/input.js';
import { HfTasksError } from './errors.js';
import { createGenerator, type GeneratorOptions } from './generation/engine.js';
import { allOnnxCandidates, type Dtype } from './hub/files.js';
import type { ProgressOption } from './hub/progress.js';
import { type ResolveOptions, resolveModel } from './hub/resolve.js';
import type { BatchingOptions } from './runtime/batcher.js';
import { type EngineRunner, engineRunnerFactory } from './runtime/engine.js';
import { type LoadModelOptions, loadModel, type RunnerFactory } from './runtime/model.js';
import type { ModelRunner } from './runtime/runner.js';
import type { Device, SessionOptions } from './runtime/session.js';
import audioClassification from './tasks/audio-classification.js';
import automaticSpeechRecognition from './tasks/automatic-speech-recognition.js';
import './tasks/asr-seq2seq.js';
import './tasks/asr-whisper.js';
import conversational from './tasks/conversational.js';
import featureExtraction from './tasks/feature-extraction.js';
import fillMask from './tasks/fill-mask.js';
import imageClassification from './tasks/image-classification.js';
import imageSegmentation from './tasks/image-segmentation.js';
import objectDetection from './tasks/object-detection.js';
import questionAnswering from './tasks/question-answering.js';
import sentenceSimilarity from './tasks/sentence-similarity.js';
import tableQuestionAnswering from './tasks/table-question-answering.js';
import type { CallOptions, OffsetUnit, TaskDefinition, TaskOptions, TaskRun } from './tasks/task.js';
import textClassification from './tasks/text-classification.js';
import textGeneration from './tasks/text-generation.js';
import { summarization, text2textGeneration, translation } from './tasks/text2text.js';
import tokenClassification from './tasks/token-classification.js';
import zeroShotClassification from './tasks/zero-shot-classification.js';
import {
  type CanonicalTask,
  TASK_ALIASES,
  type TaskId,
  type TaskName,
  type TaskTypes,
} from './types/tasks.js';
import type { TextGenerationStreamEvent } from './types/text-generation.js';
import { resolveVisionOptions, type VisionOptions } from './vision/run.js';

/** The task registry: HF task id -> implementation. */
const TASKS: { [K in TaskId]: TaskDefinition } = {
  'token-classification': tokenClassification,
  'text-classification': textClassification,
  'zero-shot-classification': zeroShotClassification,
  'fill-mask': fillMask,
  'question-answering': questionAnswering,
  'table-question-answering': tableQuestionAnswering,
  'feature-extraction': featureExtraction,
  'sentence-similarity': sentenceSimilarity,
  'text-generation': textGeneration,
  'text2text-generation': text2textGeneration,
  summarization,
  translation,
  conversational,
  'image-classification': imageClassification,
  'object-detection': objectDetection,
  'image-segmentation': imageSegmentation,
  'automatic-speech-recognition': automaticSpeechRecognition,
  'audio-classification': audioClassification,
};

/** Tasks whose models take images (no tokenizer). */
const VISION_TASKS: ReadonlySet<TaskId> = new Set([
  'image-classification',
  'object-detection',
  'image-segmentation',
]);

/** Tasks whose models take audio (a feature extractor, and a CTC vocabulary at most). */
const AUDIO_TASKS: ReadonlySet<TaskId> = new Set(['automatic-speech-recognition', 'audio-classification']);

/** Tasks that decode with the generation engine (one dedicated worker per model). */
const GENERATION_TASKS: ReadonlySet<TaskId> = new Set([
  'text-generation',
  'conversational',
  'text2text-generation',
  'summarization',
  'translation',
]);

/** Generation tasks on encoder-decoder models (an encoder file beside the decoder). */
const SEQ2SEQ_TASKS: ReadonlySet<TaskId> = new Set(['text2text-generation', 'summarization', 'translation']);

/** `translation_xx_to_yy`, as transformers accepts it. */
const TRANSLATION_PAIR = /^translation_[^_]+_to_[^_]+$/;

/**
 * The model each task loads when `pipeline()` gets none. `null`: no default model is available
 * locally, so the caller must pass one.
 */
export const DEFAULT_MODELS: { readonly [K in TaskId]: string | null } = {
  'token-classification': 'nationaldesignstudio/rampart',
  'text-classification': null,
  'zero-shot-classification': null,
  'fill-mask': null,
  'question-answering': null,
  'table-question-answering': null,
  'feature-extraction': 'sentence-transformers/all-MiniLM-L6-v2',
  'sentence-similarity': 'sentence-transformers/all-MiniLM-L6-v2',
  'text-generation': 'HuggingFaceTB/SmolLM2-135M-Instruct',
  'text2text-generation': null,
  summarization: null,
  translation: null,
  conversational: 'HuggingFaceTB/SmolLM2-135M-Instruct',
  // Image tasks and audio classification run on the models the user supplies.
  'image-classification': null,
  'object-detection': null,
  'image-segmentation': null,
  'automatic-speech-recognition': 'openai/whisper-tiny.en',
  'audio-classification': null,
};

/** Library options of `pipeline()` (camelCase; task parameters go with each call). */
export interface PipelineOptions {
  /**
   * `cpu` (default), `webgpu` (onnxruntime-node's WebGPU provider: on Linux over Vulkan) or
   * `cuda` (needs onnxruntime-node's CUDA binaries).
   */
  device?: Device;
  /** With a GPU device: run on the CPU instead of failing when the GPU is unusable. */
  deviceFallback?: boolean;
  /** Weight variant picking the ONNX file (`fp32`, `fp16`, `q8`, `int8`, `uint8`, `q4`); default: the best present. */
  dtype?: Dtype | 'auto';
  /** Hugging Face cache folder (default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Hub revision (branch, tag or commit). Default `main`. */
  revision?: string;
  /** Never touch the network (also set by HF_HUB_OFFLINE=1). */
  offline?: boolean;
  /** Download progress: a bar on an interactive stderr by default; `false` silences it. */
  progress?: ProgressOption;
  /** Character offsets in outputs: `code_points` (default, as the Inference API) or `utf16`. */
  offsets?: OffsetUnit;
  /** onnxruntime session options (threads, graph optimisation, memory arena, providers). */
  sessionOptions?: SessionOptions;
  /** Zero-shot output: the live API's `{sequence, labels, scores}` (`legacy`, default) or `list`. */
  zeroShotOutput?: 'legacy' | 'list';
  /** Vision tasks: whether string inputs may name local files, pixel and byte limits. */
  vision?: VisionOptions;
  /** Audio tasks: whether string inputs may name local files, byte and duration limits. */
  audio?: AudioOptions;
  /** Engine hook: opens the `ModelRunner` for the ONNX file (default: the engine, see `workers`). */
  createRunner?: RunnerFactory;
  /** Worker threads running the network (default: one per core, at most 4); `0` runs it inline. */
  workers?: number;
  /** Run the network in the calling thread (same as `workers: 0`); it blocks the event loop. */
  inline?: boolean;
  /** Dynamic batching of concurrent calls: knobs, or `false` to run calls one by one. Default on. */
  batching?: boolean | BatchingOptions;
  /**
   * A second session of the model on the CPU for a call that runs alone (nothing else runs or
   * waits). `true`: in worker 0 with a thread per core, so a lone call uses every core (a second
   * copy of the weights in that worker). `'inline'`: in the calling thread (a thread per core,
   * one under 4 MiB), which spares a lone call the hop to a worker and back but blocks the event
   * loop while it runs. `false`: none. Default: `true` for graphs of 4 MiB and more, `'inline'`
   * below (runs of a fraction of a millisecond); none when `sessionOptions.intraOpNumThreads`
   * is set.
   */
  soloSession?: boolean | 'inline';
  /** Generation tasks: continuous-batching limits and the `max_new_tokens` cap. */
  generation?: GenerationOptions;
}

/** Options of the generation engine (text-generation, conversational). */
export interface GenerationOptions {
  /** Sum of rows x (prompt + max new tokens) over the sequences decoded together. Default 65536. */
  maxBatchTokens?: number;
  /** Requests waiting for room before ERR_QUEUE_FULL. Default 256. */
  maxQueued?: number;
  /** Largest `max_new_tokens` a call may ask for. Default 4096. */
  maxNewTokensLimit?: number;
  /** Share forward passes between concurrent requests (continuous batching). Default true. */
  batching?: boolean;
  /**
   * Keep the key/value caches in GPU memory between decoding steps (no copy through host memory
   * per step). Default: on where the model runs on WebGPU; `false` turns it off. No effect on
   * the CPU, nor on CUDA (onnxruntime-node 1.23 keeps no CUDA outputs on the device).
   */
  deviceCache?: boolean;
}

/** A loaded pipeline: call it with API `inputs` (one or a list) and optional `parameters`. */
export interface Pipe<T extends TaskId> {
  (
    inputs: TaskTypes[T]['inputs'],
    parameters?: TaskTypes[T]['parameters'],
    call?: CallOptions,
  ): Promise<TaskTypes[T]['output']>;
  (
    inputs: TaskTypes[T]['batchInputs'],
    parameters?: TaskTypes[T]['parameters'],
    call?: CallOptions,
  ): Promise<TaskTypes[T]['batchOutput']>;
  /**
   * Generation tasks: the call's events as an async iterator (a `token` event per generated
   * token, an `end` event per returned sequence). Breaking out of the loop cancels the call.
   */
  stream(
    inputs: TaskTypes[T]['inputs'],
    parameters?: TaskTypes[T]['parameters'],
    call?: Omit<CallOptions, 'onEvent'>,
  ): AsyncIterableIterator<TextGenerationStreamEvent>;
  /** The canonical HF task id. */
  readonly task: T;
  /** The model reference the pipe was loaded from. */
  readonly model: string;
  /** Frees the model's sessions; later calls fail with ERR_DISPOSED. */
  dispose(): Promise<void>;
}

/** Every task id `pipeline()` accepts, aliases included. */
export function supportedTasks(): string[] {
  return [...Object.keys(TASKS), ...Object.keys(TASK_ALIASES)];
}

function canonicalTask(task: unknown): TaskId {
  if (typeof task === 'string') {
    if (Object.hasOwn(TASKS, task)) return task as TaskId;
    if (Object.hasOwn(TASK_ALIASES, task)) return TASK_ALIASES[task as keyof typeof TASK_ALIASES];
    if (TRANSLATION_PAIR.test(task)) return 'translation';
  }
  throw new HfTasksError(
    'ERR_UNKNOWN_TASK',
    `unknown task ${JSON.stringify(task)}; supported tasks: ${supportedTasks().join(', ')}`,
  );
}

function taskOptions(options: PipelineOptions): TaskOptions {
  const offsets = options.offsets ?? 'code_points';
  if (offsets !== 'code_points' && offsets !== 'utf16') {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `options.offsets must be 'code_points' or 'utf16' (got ${String(offsets)})`,
    );
  }
  const zeroShotOutput = options.zeroShotOutput ?? 'legacy';
  if (zeroShotOutput !== 'legacy' && zeroShotOutput !== 'list') {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      `options.zeroShotOutput must be 'legacy' or 'list' (got ${String(zeroShotOutput)})`,
    );
  }
  const g = options.generation;
  if (g !== undefined && (typeof g !== 'object' || g === null)) {
    throw new HfTasksError('ERR_INVALID_ARGUMENT', 'options.generation must be an object');
  }
  for (const key of ['maxBatchTokens', 'maxQueued', 'maxNewTokensLimit'] as const) {
    const v = g?.[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
      throw new HfTasksError(
        'ERR_INVALID_ARGUMENT',
        `options.generation.${key} must be an integer >= 1 (got ${String(v)})`,
      );
    }
  }
  const generation = g?.maxNewTokensLimit === undefined ? {} : { maxNewTokensLimit: g.maxNewTokensLimit };
  return {
    offsets,
    zeroShotOutput,
    generation,
    vision: resolveVisionOptions(options.vision),
    audio: resolveAudioOptions(options.audio),
  };
}

function loadOptions(task: TaskId, options: PipelineOptions): LoadModelOptions {
  const out: LoadModelOptions = { task };
  const keys = [
    'device',
    'deviceFallback',
    'dtype',
    'cacheDir',
    'revision',
    'offline',
    'progress',
    'sessionOptions',
    'createRunner',
  ] as const;
  for (const key of keys) {
    if (options[key] !== undefined) Object.assign(out, { [key]: options[key] });
  }
  if (GENERATION_TASKS.has(task)) out.onnxName = ['model', 'decoder_model_merged'];
  if (VISION_TASKS.has(task)) out.requireTokenizer = false;
  if (AUDIO_TASKS.has(task)) out.requireTokenizer = false;
  if (SEQ2SEQ_TASKS.has(task)) out.onnxName = ['decoder_model_merged', 'decoder_with_past_model'];
  if (out.createRunner === undefined && GENERATION_TASKS.has(task)) {
    const g = options.generation ?? {};
    const engine: GeneratorOptions = {
      inline: options.inline === true || options.workers === 0,
      ...(g.maxBatchTokens !== undefined && { maxBatchTokens: g.maxBatchTokens }),
      ...(g.maxQueued !== undefined && { maxQueued: g.maxQueued }),
      ...(g.batching !== undefined && { batching: g.batching }),
      ...(g.deviceCache !== undefined && { deviceCache: g.deviceCache }),
    };
    out.createRunner = SEQ2SEQ_TASKS.has(task)
      ? (onnxPath, { padTokenId: _pad, ...session }) =>
          createGenerator(onnxPath, { ...session, ...engine, seq2seq: seq2seqFiles(onnxPath) })
      : (onnxPath, { padTokenId: _pad, ...session }) => createGenerator(onnxPath, { ...session, ...engine });
  }
  if (task === 'automatic-speech-recognition') {
    // Speech encoder-decoders (Whisper) have no model.onnx: their decoder runs on the
    // generation engine with the encoder beside it.
    out.onnxName = ['model', 'decoder_model_merged', 'decoder_with_past_model'];
    if (out.createRunner === undefined) {
      const plain = engineRunnerFactory({
        ...(options.workers !== undefined && { workers: options.workers }),
        ...(options.inline !== undefined && { inline: options.inline }),
        ...(options.batching !== undefined && { batching: options.batching }),
        ...(options.soloSession !== undefined && { soloSession: options.soloSession }),
      });
      const inline = options.inline === true || options.workers === 0;
      out.createRunner = (onnxPath, runnerOptions) => {
        const seq2seq = seq2seqFilesBeside(onnxPath);
        if (seq2seq === undefined) return plain(onnxPath, runnerOptions);
        const { padTokenId: _pad, ...session } = runnerOptions;
        const deviceCache = options.generation?.deviceCache;
        return createGenerator(onnxPath, {
          ...session,
          inline,
          seq2seq,
          ...(deviceCache !== undefined && { deviceCache }),
        });
      };
    }
  }
  if (out.createRunner === undefined) {
    const { workers, inline, batching, soloSession } = options;
    out.createRunner = engineRunnerFactory({
      ...(workers !== undefined && { workers }),
      ...(inline !== undefined && { inline }),
      ...(batching !== undefined && { batching }),
      ...(soloSession !== undefined && { soloSession }),
    });
  }
  return out;
}

/** The resolve options among a load's options. */
function resolveOptionsOf(load: LoadModelOptions): ResolveOptions {
  const out: ResolveOptions = {};
  for (const key of ['task', 'dtype', 'revision', 'cacheDir', 'offline', 'progress'] as const) {
    if (load[key] !== undefined) Object.assign(out, { [key]: load[key] });
  }
  return out;
}

/**
 * The encoder and first-step decoder beside an encoder-decoder's decoder file: the merged
 * decoder (`decoder_model_merged*.onnx`) runs every step; `decoder_with_past_model*.onnx` needs
 * `decoder_model*.onnx` for the first step. The encoder has the decoder's dtype suffix, else any.
 */
export function seq2seqFiles(decoderFile: string): { encoderFile: string; firstFile?: string } {
  const dir = path.dirname(decoderFile);
  const base = path.basename(decoderFile);
  const m = /^(decoder_model_merged|decoder_with_past_model)(.*)\.onnx$/.exec(base);
  if (m === null) {
    throw new HfTasksError('ERR_MODEL_LOAD', `${decoderFile} is not an encoder-decoder's decoder file`);
  }
  const suffix = m[2] as string;
  const pick = (name: string): string | undefined => {
    const exact = path.join(dir, `${name}${suffix}.onnx`);
    if (existsSync(exact)) return exact;
    for (const candidate of allOnnxCandidates(name)) {
      const f = path.join(dir, path.basename(candidate));
      if (path.dirname(candidate) === '.' || path.dirname(candidate) === path.basename(dir)) {
        if (existsSync(f)) return f;
      }
    }
    return undefined;
  };
  const encoderFile = pick('encoder_model');
  if (encoderFile === undefined) {
    throw new HfTasksError('ERR_MODEL_LOAD', `no encoder_model${suffix}.onnx beside ${decoderFile}`);
  }
  if (m[1] === 'decoder_model_merged') return { encoderFile };
  const firstFile = pick('decoder_model');
  if (firstFile === undefined) {
    throw new HfTasksError('ERR_MODEL_LOAD', `no decoder_model${suffix}.onnx beside ${decoderFile}`);
  }
  return { encoderFile, firstFile };
}

/** `seq2seqFiles` when an encoder sits beside the decoder file, else undefined (a decoder-only model). */
export function seq2seqFilesBeside(decoderFile: string): ReturnType<typeof seq2seqFiles> | undefined {
  if (!/^(decoder_model_merged|decoder_with_past_model)/.test(path.basename(decoderFile))) return undefined;
  try {
    return seq2seqFiles(decoderFile);
  } catch {
    return undefined;
  }
}

/**
 * Loads `model` (a hub id `owner/name` or a local folder; the task's default model when
 * omitted) for `task` and returns the pipe.
 */
export async function pipeline<T extends TaskName>(
  task: T,
  model?: string | null,
  options: PipelineOptions = {},
): Promise<Pipe<CanonicalTask<T>>> {
  const id = canonicalTask(task);
  const opts = taskOptions(options);
  const ref = model ?? DEFAULT_MODELS[id];
  if (ref === null || ref === undefined) {
    throw new HfTasksError(
      'ERR_NO_DEFAULT_MODEL',
      `task ${id} has no default model available here; pass a model: pipeline('${id}', 'owner/name' or a local folder)`,
    );
  }
  if (typeof ref !== 'string' || ref.length === 0) {
    throw new HfTasksError(
      'ERR_INVALID_ARGUMENT',
      'model must be a hub id (owner/name) or a local folder path',
    );
  }
  const definition = TASKS[id];
  const load = loadOptions(id, options);
  if (id === 'automatic-speech-recognition') {
    // A speech encoder-decoder's encoder, when the model has one, is fetched beside its decoder.
    try {
      await resolveModel(ref, { ...resolveOptionsOf(load), onnxName: 'encoder_model' });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_NO_ONNX_FILE') throw err;
    }
  }
  // An encoder-decoder's encoder is fetched first (same dtype), so that it sits beside the decoder.
  if (SEQ2SEQ_TASKS.has(id)) {
    const ro = resolveOptionsOf(load);
    await resolveModel(ref, { ...ro, onnxName: 'encoder_model' });
    try {
      await resolveModel(ref, { ...ro, onnxName: 'decoder_model_merged' });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_NO_ONNX_FILE') throw err;
      // The split layout: the first-step decoder too.
      await resolveModel(ref, { ...ro, onnxName: 'decoder_model' });
    }
  }
  const loaded = await loadModel(ref, load);
  let run: TaskRun;
  try {
    run = await definition.create({
      model: loaded,
      options: opts,
      ...(task !== id && typeof task === 'string' && TRANSLATION_PAIR.test(task) && { requestedTask: task }),
    });
  } catch (err) {
    await loaded.dispose();
    throw err;
  }
  let disposed = false;
  // The engine learns how many calls are under way, so that the first of a burst waits a moment
  // for the others instead of running alone.
  const track = trackerOf(loaded.runner);
  const pipe = async (inputs: unknown, parameters?: unknown, call?: CallOptions) => {
    if (disposed) throw new HfTasksError('ERR_DISPOSED', `the ${id} pipeline for ${ref} has been disposed`);
    if (track === null) return run(inputs, parameters, call);
    const release = track();
    try {
      return await run(inputs, parameters, call);
    } finally {
      release();
    }
  };
  const stream = (inputs: unknown, parameters?: unknown, call: Omit<CallOptions, 'onEvent'> = {}) => {
    if (!GENERATION_TASKS.has(id)) {
      throw new HfTasksError('ERR_INVALID_ARGUMENT', `the ${id} task does not stream; call the pipe instead`);
    }
    return streamEvents((onEvent, signal) => pipe(inputs, parameters, { signal, onEvent }), call.signal);
  };
  Object.defineProperties(pipe, {
    task: { value: id, enumerable: true },
    model: { value: ref, enumerable: true },
    stream: { value: stream, enumerable: true },
    dispose: {
      value: async () => {
        if (disposed) return;
        disposed = true;
        await loaded.dispose();
      },
      enumerable: true,
    },
  });
  return pipe as unknown as Pipe<CanonicalTask<T>>;
}

/** The runner's call tracker when it has one (the engine's runners do). */
function trackerOf(runner: ModelRunner): (() => () => void) | null {
  const track = (runner as Partial<EngineRunner>).track;
  return typeof track === 'function' ? track.bind(runner) : null;
}

/**
 * Turns a callback-driven call into an async iterator of its events. Leaving the loop early
 * (break, return, throw) aborts the call.
 */
function streamEvents(
  start: (onEvent: (e: TextGenerationStreamEvent) => void, signal: AbortSignal) => Promise<unknown>,
  outer: AbortSignal | undefined,
): AsyncIterableIterator<TextGenerationStreamEvent> {
  const controller = new AbortController();
  if (outer !== undefined) {
    if (outer.aborted) controller.abort();
    else outer.addEventListener('abort', () => controller.abort(), { once: true });
  }
  const buffered: TextGenerationStreamEvent[] = [];
  let wake: (() => void) | null = null;
  let finished = false;
  let failure: unknown = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  start((e) => {
    buffered.push(e);
    notify();
  }, controller.signal).then(
    () => {
      finished = true;
      notify();
    },
    (err: unknown) => {
      failure = err;
      finished = true;
      notify();
    },
  );
  const iterator: AsyncIterableIterator<TextGenerationStreamEvent> = {
    async next(): Promise<IteratorResult<TextGenerationStreamEvent>> {
      for (;;) {
        const e = buffered.shift();
        if (e !== undefined) return { value: e, done: false };
        if (finished) {
          if (failure !== null) {
            const err = failure;
            failure = null;
            throw err;
          }
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
    async return(): Promise<IteratorResult<TextGenerationStreamEvent>> {
      if (!finished) controller.abort();
      finished = true;
      failure = null;
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

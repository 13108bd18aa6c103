/**
 * A loaded model: its resolved folder, config.json, tokenizer, sentence-transformers
 * configuration when present, and the `ModelRunner` that runs its ONNX graph.
 */
import path from 'node:path';
import { ModelError } from '../errors.js';
import type { Dtype } from '../hub/files.js';
import type { ProgressOption } from '../hub/progress.js';
import { type ResolveOptions, resolveModel } from '../hub/resolve.js';
import type { Tokenizer } from '../tokenizer.js';
import {
  loadModelConfig,
  loadSentenceTransformersConfig,
  type ModelConfig,
  type SentenceTransformersConfig,
} from './config.js';
import type { ModelRunner } from './runner.js';
import { createSessionRunner, type SessionRunnerOptions } from './session.js';
import { folderTokenizer, noTokenizerError } from './vocab-tokenizer.js';

/** Opens a runner for an ONNX file; the inline session runner unless an engine provides one. */
export type RunnerFactory = (onnxPath: string, options: RunnerFactoryOptions) => Promise<ModelRunner>;

/** What the loader hands a runner factory: device and session options, and the tokenizer's pad id. */
export type RunnerFactoryOptions = SessionRunnerOptions & { padTokenId?: number; stacking?: boolean };

export interface LoadModelOptions extends SessionRunnerOptions {
  /** The task the model is loaded for (guides which files a hub download needs). */
  task?: string;
  /** Weight variant picking the ONNX file (`fp32`, `fp16`, `q8`, ...); absent: the best present. */
  dtype?: Dtype | 'auto';
  revision?: string;
  cacheDir?: string;
  offline?: boolean;
  /** Download progress (a bar on an interactive stderr by default). */
  progress?: ProgressOption;
  /**
   * The ONNX file's base name (default `model`), or names to try in order (a decoder: `model`,
   * then `decoder_model_merged`).
   */
  onnxName?: string | readonly string[];
  createRunner?: RunnerFactory;
  /**
   * Whether the model must have a tokenizer.json (default true). Vision models have none: their
   * `tokenizer` then throws ERR_MODEL_LOAD when used.
   */
  requireTokenizer?: boolean;
}

export interface LoadedModel {
  /** The hub id, or the folder's absolute path for a local model. */
  readonly id: string;
  /** The folder holding the model files. */
  readonly dir: string;
  /** Absolute path of the ONNX file the runner serves. */
  readonly onnxFile: string;
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly sentenceTransformers: SentenceTransformersConfig | null;
  readonly runner: ModelRunner;
  dispose(): Promise<void>;
}

/** Loads a model folder: configuration, tokenizer and an ONNX runner. */
export async function loadModel(ref: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const resolveOptions: ResolveOptions = {};
  for (const key of ['task', 'dtype', 'revision', 'cacheDir', 'offline', 'progress'] as const) {
    if (options[key] !== undefined) Object.assign(resolveOptions, { [key]: options[key] });
  }
  const names = typeof options.onnxName === 'string' ? [options.onnxName] : (options.onnxName ?? ['model']);
  let resolved: Awaited<ReturnType<typeof resolveModel>> | null = null;
  for (const [i, onnxName] of names.entries()) {
    try {
      resolved = await resolveModel(ref, { ...resolveOptions, onnxName });
      break;
    } catch (err) {
      // A later name may exist where this one does not.
      if ((err as { code?: string }).code !== 'ERR_NO_ONNX_FILE' || i === names.length - 1) throw err;
    }
  }
  if (resolved === null) throw new ModelError('ERR_MODEL_LOAD', `no ONNX file name to look for in ${ref}`);
  const dir = resolved.dir;
  const onnxFile = path.join(dir, resolved.onnxFile);
  const config = loadModelConfig(dir);
  const sentenceTransformers = loadSentenceTransformersConfig(dir);
  const noTokenizer = () => noTokenizerError(ref);
  // Slow-tokenizer files alone (TAPAS's vocab.txt, Marian's source.spm) get a tokenizer built.
  const loaded = folderTokenizer(dir, ref);
  if (loaded === null && options.requireTokenizer !== false) throw noTokenizer();
  const tokenizer = loaded === null ? null : withModelPadding(loaded, config.padTokenId);
  const runnerOptions: RunnerFactoryOptions = {};
  const padTokenId = tokenizer?.padTokenId ?? null;
  if (padTokenId !== null) runnerOptions.padTokenId = padTokenId;
  if (config.unpaddedRows) runnerOptions.stacking = false;
  if (options.device !== undefined) runnerOptions.device = options.device;
  if (options.deviceFallback !== undefined) runnerOptions.deviceFallback = options.deviceFallback;
  if (options.sessionOptions !== undefined) runnerOptions.sessionOptions = options.sessionOptions;
  const runner = await (options.createRunner ?? createSessionRunner)(onnxFile, runnerOptions);
  return {
    id: resolved.modelId,
    dir,
    onnxFile,
    config,
    get tokenizer(): Tokenizer {
      if (tokenizer === null) throw noTokenizer();
      return tokenizer;
    },
    sentenceTransformers,
    runner,
    dispose: () => runner.dispose(),
  };
}

/**
 * The tokenizer padding with the model's pad id. config.json's `pad_token_id` wins over the
 * tokenizer's pad token where they differ (decoder-only classifiers pick their last real token
 * by the config's id; RoBERTa counts positions from it); a tokenizer without a pad token pads
 * with its EOS id, as the reference's zero-shot pipeline does. Ids outside the vocabulary are
 * ignored.
 */
function withModelPadding(tokenizer: Tokenizer, configPad: number | null): Tokenizer {
  const own = tokenizer.specialTokens.pad_token_id;
  const inVocab = (id: number | null): id is number => id !== null && id >= 0 && id < tokenizer.vocabSize;
  const wanted = inVocab(configPad) ? configPad : (own ?? tokenizer.specialTokens.eos_token_id);
  if (wanted === null || wanted === own || !inVocab(wanted)) return tokenizer;
  return tokenizer.withPadTokenId(wanted);
}

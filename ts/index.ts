/**
 * hf-tasks: Hugging Face Inference API task contracts on local ONNX models.
 */
// Audio: decoding as ffmpeg's mono down-mix and resampler, speech features, the ASR backend seam.
export { CtcTokenizer } from './audio/ctc.js';
export { type FeatureExtractorConfig, loadFeatureExtractor } from './audio/features.js';
export { type Audio, type AudioOptions, loadAudio, resolveAudioOptions } from './audio/input.js';
export {
  DeviceUnavailableError,
  DownloadError,
  GatedModelError,
  HfTasksError,
  InvalidInputError,
  InvalidParameterError,
  ModelError,
  ModelNotFoundError,
  NativeError,
  OfflineError,
  QueueFullError,
  WorkerCrashedError,
} from './errors.js';
// Generation engine: decoder-only models, continuous batching, token events.
export {
  createGenerator,
  type GenerateCallOptions,
  type Generator,
  type GeneratorOptions,
} from './generation/engine.js';
export type {
  FinishReason,
  GeneratedSequence,
  GenerationRequest,
  GenerationResult,
  LoopOptions,
  TokenEvent,
} from './generation/loop.js';
export { DTYPES, type Dtype } from './hub/files.js';
export { PACKAGE_MIRROR } from './hub/mirror.js';
export { validateModelId, validateRevision } from './hub/model-id.js';
export type { ProgressEvent, ProgressOption } from './hub/progress.js';
export { provisionModels } from './hub/provision.js';
export { type ResolvedModel, type ResolveOptions, resolveModel } from './hub/resolve.js';
export { hubCacheDir } from './hub/settings.js';
export {
  aggregateTokens,
  applyScores,
  audioFeatures,
  clsPool,
  cosineSimilarity,
  cosineSimilarityMatrix,
  decodeAudio,
  encodeMaskPng,
  type GroupedEntity,
  l2Normalize,
  lastTokenPool,
  maxPool,
  meanPool,
  meanSqrtLenPool,
  qaAnswerCharSpans,
  qaDecodeSpan,
  qaPMask,
  resampleAudio,
  type TokenClassificationInput,
  type TokenEntity,
  topK,
  weightedMeanPool,
} from './native.js';
export {
  DEFAULT_MODELS,
  type GenerationOptions,
  type Pipe,
  type PipelineOptions,
  pipeline,
  supportedTasks,
} from './pipeline.js';
// The engine: worker pool, dynamic batching.
export type { BatcherStats, BatchingOptions } from './runtime/batcher.js';
export {
  createEngineRunner,
  type EngineOptions,
  type EngineRunner,
  engineRunnerFactory,
  shutdownEngine,
} from './runtime/engine.js';
export type { LoadedModel, RunnerFactory } from './runtime/model.js';
export { defaultWorkerCount, type PoolOptions, WorkerPool } from './runtime/pool.js';
export type { ModelRunner, RunOptions, TensorLike, TensorType } from './runtime/runner.js';
export type { Device, SessionOptions } from './runtime/session.js';
export {
  type AsrBackend,
  type AsrBackendRun,
  type AsrModelType,
  type AsrParameters,
  type AsrRequest,
  asrModelType,
  registerAsrBackend,
} from './tasks/automatic-speech-recognition.js';
export { TABLE_QA_LIMITS } from './tasks/table-question-answering.js';
export {
  type BatchEncoding,
  type DecodeOptions,
  type EncodeOptions,
  type OffsetUnit,
  type PaddingStrategy,
  type Side,
  type SpecialTokens,
  SYNC_ENCODE_MAX_CHARS,
  type TokenIds,
  Tokenizer,
  type TokenizerInput,
  type TruncationStrategy,
} from './tokenizer.js';
export type * from './types/audio.js';
export type * from './types/fill-mask.js';
export type * from './types/table-question-answering.js';
export type * from './types/tasks.js';
export { TASK_ALIASES } from './types/tasks.js';
export type * from './types/text-classification.js';
export type * from './types/text-generation.js';
export type * from './types/text2text.js';
export type * from './types/token-classification.js';
export type * from './types/zero-shot-classification.js';

/**
 * What every task module provides to the pipeline registry, and what it gets from it.
 */
import type { LoadedModel } from '../runtime/model.js';

/** How character offsets are counted in outputs. */
export type OffsetUnit = 'code_points' | 'utf16';

/** Library options a task reads (camelCase; task parameters are per call). */
export interface TaskOptions {
  /** Offsets in Unicode code points (default, as the Inference API) or JS UTF-16 units. */
  offsets: OffsetUnit;
  /** Zero-shot output shape: the live API's `{sequence, labels, scores}` (default) or `[{label, score}]`. */
  zeroShotOutput: 'legacy' | 'list';
  /** Limits of the generation tasks. */
  generation?: { maxNewTokensLimit?: number };
  /** Image sources and limits of the vision tasks. */
  vision?: import('../vision/run.js').VisionOptions;
  /** Audio sources and limits of the audio tasks. */
  audio?: import('../audio/input.js').AudioOptions;
}

/** Everything a task needs to serve calls. */
export interface TaskContext {
  model: LoadedModel;
  options: TaskOptions;
  /** The task name the caller gave when it carries more than the id (`translation_en_to_de`). */
  requestedTask?: string;
}

/**
 * One call of a pipe: API `inputs` and `parameters` in, the task's output out. Generation tasks
 * also take per-call options (an AbortSignal, a per-token event callback).
 */
export type TaskRun = (inputs: unknown, parameters: unknown, call?: CallOptions) => Promise<unknown>;

/** Per-call library options (generation tasks). */
export interface CallOptions {
  signal?: AbortSignal;
  onEvent?: (event: import('../types/text-generation.js').TextGenerationStreamEvent) => void;
}

/** A task implementation, registered under its HF task id in ts/pipeline.ts. */
export interface TaskDefinition {
  /** Builds the call function for a loaded model; may check that the model fits the task. */
  create(ctx: TaskContext): TaskRun | Promise<TaskRun>;
}

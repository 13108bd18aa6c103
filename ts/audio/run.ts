/**
 * What the audio tasks share: the `audio` library options as a task reads them, and the
 * resolution of a call's inputs (one or a list) to mono samples at the extractor's rate.
 */
import type { TaskContext } from '../tasks/task.js';
import {
  type Audio,
  type AudioOptions,
  loadAudio,
  type MultiChannel,
  type ResolvedAudioOptions,
  resolveAudioOptions,
} from './input.js';

/** The `audio` options of a task context (`pipeline(..., {audio})`), resolved. */
export function audioOptionsOf(ctx: TaskContext): ResolvedAudioOptions {
  return resolveAudioOptions((ctx.options as { audio?: AudioOptions }).audio);
}

/** True when `inputs` is a list of inputs (not a single input). */
export function isAudioBatch(inputs: unknown): inputs is unknown[] {
  return Array.isArray(inputs) && !inputs.every((x) => typeof x === 'number');
}

/** Decodes every input of a call. */
export async function loadAudioInputs(
  inputs: unknown,
  rate: number,
  options: ResolvedAudioOptions,
  multiChannel: MultiChannel = 'mean',
): Promise<{ items: Audio[]; single: boolean }> {
  if (isAudioBatch(inputs)) {
    const items = await Promise.all(
      inputs.map((v, i) => loadAudio(v, `inputs[${i}]`, rate, options, multiChannel)),
    );
    return { items, single: false };
  }
  return { items: [await loadAudio(inputs, 'inputs', rate, options, multiChannel)], single: true };
}

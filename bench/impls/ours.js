/**
 * hf-tasks: the public `pipeline()` (built `dist/`), end to end: tokenization, the network on
 * the engine (worker pool + dynamic batching by default, or inline), post-processing.
 */
import { pipeline, shutdownEngine } from '../../dist/index.js';

export const name = 'hf-tasks';
export const note = 'pipeline() with the default engine (worker pool + dynamic batching)';

/** Task parameters that make every implementation do the same work. */
function parameters(target) {
  // transformers.js returns per-token predictions; ask for the same (no aggregation).
  if (target.kind === 'ner') return { aggregation_strategy: 'none' };
  return undefined;
}

export async function open(target, { inline = false, device = 'cpu' } = {}) {
  const options = { dtype: target.dtype, offline: true, progress: false };
  if (device !== 'cpu') options.device = device;
  if (inline) options.workers = 0;
  const pipe = await pipeline(target.task, target.dir, options);
  const params = parameters(target);
  const one = (x) => pipe(x, params);
  return {
    one,
    batch: (texts) => pipe(texts, params),
    round: (inputs) => Promise.all(inputs.map(one)),
    async close() {
      await pipe.dispose();
      await shutdownEngine();
    },
  };
}

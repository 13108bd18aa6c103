/**
 * hf-tasks: the public `pipeline('summarization', dir)` end to end (tokenization, encoder,
 * the generation engine's encoder-decoder path with continuous batching in its worker,
 * detokenization), greedy or beam search, every generation forced to the same length
 * (`min_new_tokens` = `max_new_tokens`). Greedy calls also record the generated ids through
 * `onEvent` for the parity check; beam calls give the text only.
 */
import { pipeline, shutdownEngine } from '../../ts/index.js';

export const name = 'hf-tasks';
export const note = "pipeline('summarization') on the default engine (dedicated worker, continuous batching)";

export async function open(target) {
  const pipe = await pipeline('summarization', target.dir, { offline: true, progress: false });
  const one = async (text, opts) => {
    const params = {
      max_new_tokens: opts.maxNewTokens,
      min_new_tokens: opts.minNewTokens,
      num_beams: opts.numBeams,
      do_sample: false,
    };
    if (opts.numBeams > 1) {
      const out = await pipe(text, params);
      return { ids: null, text: out[0].summary_text };
    }
    const ids = [];
    const onEvent = (e) => {
      if (e.type === 'token') ids.push(e.token.id);
    };
    const out = await pipe(text, params, { onEvent });
    return { ids, text: out[0].summary_text };
  };
  return {
    one,
    many: (texts, opts) => Promise.all(texts.map((t) => one(t, opts))),
    async close() {
      await pipe.dispose();
      await shutdownEngine();
    },
  };
}

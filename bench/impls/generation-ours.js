/**
 * hf-tasks: the public `pipeline('text-generation', ...)` end to end (tokenization, the
 * generation engine with continuous batching, detokenization), greedy, with the per-call
 * `onEvent` callback timing each token. Default: the engine's dedicated worker. `inline`
 * (`workers: 0`, a diagnostic): the same loop in the calling thread, with onnxruntime-node's
 * `InferenceSession.run` timed, so that the time outside the network is measured.
 */
import * as ort from 'onnxruntime-node';
import { pipeline, shutdownEngine } from '../../ts/index.js';

export const name = 'hf-tasks';
export const note =
  "pipeline('text-generation') on the default engine (dedicated worker, continuous batching)";

/** Times every session.run of this thread (prompt passes and decode steps apart). */
function timeSessionRuns(stats) {
  const proto = ort.InferenceSession.prototype;
  const run = proto.run;
  proto.run = async function timedRun(feeds, ...rest) {
    const t = performance.now();
    const out = await run.call(this, feeds, ...rest);
    const ms = performance.now() - t;
    stats.runMs += ms;
    stats.steps++;
    const ids = feeds.input_ids;
    if (ids !== undefined && ids.dims[1] === 1) {
      stats.decodeRunMs += ms;
      stats.decodeSteps++;
    }
    return out;
  };
}

export async function open(target, { inline = false } = {}) {
  const options = { offline: true, progress: false };
  let stats;
  if (inline) {
    options.workers = 0;
    stats = { runMs: 0, steps: 0, decodeRunMs: 0, decodeSteps: 0 };
    timeSessionRuns(stats);
  }
  const pipe = await pipeline('text-generation', target.dir, options);
  const params = (opts) => ({
    max_new_tokens: opts.maxNewTokens,
    min_new_tokens: opts.minNewTokens,
    do_sample: false,
    return_full_text: false,
    details: true,
  });
  const one = async (text, opts, onToken) => {
    const call = onToken === undefined ? {} : { onEvent: (e) => e.type === 'token' && onToken() };
    const out = await pipe(text, params(opts), call);
    return out[0].details.tokens.map((t) => t.id);
  };
  return {
    ...(stats !== undefined && { stats }),
    one,
    many: (texts, opts, onToken) => Promise.all(texts.map((t, i) => one(t, opts, () => onToken?.(i)))),
    async close() {
      await pipe.dispose();
      await shutdownEngine();
    },
  };
}

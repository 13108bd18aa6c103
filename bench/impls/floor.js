/**
 * The floor: a raw onnxruntime-node session.run on inputs tokenized before the clock starts, at
 * the same batch shapes as the other implementations, in the calling thread. Nothing else runs:
 * no tokenization, no post-processing, no scheduling. Concurrent callers are served the way an
 * ideal batcher would, knowing every input in advance: sorted by length and cut into batches of
 * at most 32 rows at the least total cost (padded tokens plus a fixed cost per run), the way the
 * engine cuts its queue but with every input known at once.
 */
import * as ort from 'onnxruntime-node';
import { DEFAULT_BATCHING } from '../../dist/runtime/batcher.js';
import { DEFAULT_FIXED_TOKENS, partitionByLength } from '../../dist/runtime/job-cost.js';
import { Tokenizer } from '../../dist/tokenizer.js';

export const name = 'floor';
export const note = 'raw onnxruntime-node session.run on pre-tokenized inputs (main thread)';

export async function open(target, { threads, device = 'cpu' }) {
  const session = await ort.InferenceSession.create(target.onnxFile, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    ...(device === 'webgpu' && { executionProviders: ['webgpu', 'cpu'] }),
  });
  const tokenizer = Tokenizer.fromFile(target.dir);
  const encodeOpts = { padding: 'longest', truncation: true, maxLength: target.maxLength };
  const cache = new Map();
  const rowsOf = (inputs) =>
    target.kind === 'similarity' ? inputs.flatMap((x) => [x.source_sentence, ...x.sentences]) : inputs;

  /** Pre-tokenized feeds for a list of texts (built once, outside the timed region). */
  function feeds(texts) {
    const key = texts.join('\u0001');
    let f = cache.get(key);
    if (f === undefined) {
      const enc = tokenizer.encodeBatchSync(texts, encodeOpts);
      const all = {
        input_ids: enc.inputIds,
        attention_mask: enc.attentionMask,
        token_type_ids: enc.tokenTypeIds,
      };
      f = {};
      for (const n of session.inputNames) f[n] = new ort.Tensor('int64', all[n], enc.dims);
      cache.set(key, f);
    }
    return f;
  }

  const lengthOf = (x) => {
    const texts = rowsOf([x]);
    const enc = tokenizer.encodeBatchSync(texts, { truncation: true, maxLength: target.maxLength });
    return Math.max(...enc.lengths);
  };
  /**
   * Length-sorted batches of at most 32 rows and 8192 tokens, cut at the least total cost (each
   * batch's padded tokens plus the fixed cost of a run), as the engine cuts its queue.
   */
  const chunks = (list) => {
    const sorted = list.map((x) => ({ x, len: lengthOf(x), rows: rowsOf([x]).length }));
    sorted.sort((a, b) => a.len - b.len);
    const cuts = partitionByLength(
      sorted.map((s) => s.len),
      sorted.map((s) => s.rows),
      {
        rows: DEFAULT_BATCHING.maxBatchSize,
        tokens: DEFAULT_BATCHING.tokenBudget,
        padding: DEFAULT_BATCHING.maxPadding,
        fixedTokens: DEFAULT_FIXED_TOKENS,
      },
    );
    return cuts.map(([from, to]) => sorted.slice(from, to).map((s) => s.x));
  };
  const plans = new Map();
  const planOf = (inputs) => {
    let plan = plans.get(inputs);
    if (plan === undefined) {
      plan = chunks(inputs);
      plans.set(inputs, plan);
    }
    return plan;
  };

  return {
    /** Tokenizes everything a scenario will send, before it is timed. */
    prepare(kind, inputs) {
      if (kind === 'one') for (const x of inputs) feeds(rowsOf([x]));
      else if (kind === 'batch') feeds(rowsOf(inputs));
      else for (const c of planOf(inputs)) feeds(rowsOf(c));
    },
    one: (x) => session.run(feeds(rowsOf([x]))),
    batch: (texts) => session.run(feeds(rowsOf(texts))),
    async round(inputs) {
      for (const c of planOf(inputs)) await session.run(feeds(rowsOf(c)));
    },
    close: () => session.release(),
  };
}

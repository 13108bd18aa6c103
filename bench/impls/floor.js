/**
 * The floor: a raw onnxruntime-node session.run on inputs tokenized before the clock starts, at
 * the same batch shapes as the other implementations, in the calling thread. Nothing else runs:
 * no tokenization, no post-processing, no scheduling. Concurrent callers are served the way an
 * ideal batcher would: all of them at once, in batches of 32.
 */
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '../../dist/tokenizer.js';

export const name = 'floor';
export const note = 'raw onnxruntime-node session.run on pre-tokenized inputs (main thread)';

export async function open(target, { threads }) {
  const session = await ort.InferenceSession.create(target.onnxFile, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
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

  const chunks = (list, size) => {
    const out = [];
    for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
    return out;
  };

  return {
    /** Tokenizes everything a scenario will send, before it is timed. */
    prepare(kind, inputs) {
      if (kind === 'one') for (const x of inputs) feeds(rowsOf([x]));
      else if (kind === 'batch') feeds(rowsOf(inputs));
      else for (const c of chunks(inputs, 32)) feeds(rowsOf(c));
    },
    one: (x) => session.run(feeds(rowsOf([x]))),
    batch: (texts) => session.run(feeds(rowsOf(texts))),
    async round(inputs) {
      for (const c of chunks(inputs, 32)) await session.run(feeds(rowsOf(c)));
    },
    close: () => session.release(),
  };
}

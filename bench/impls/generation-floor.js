/**
 * The generation floor: a raw onnxruntime-node greedy decode loop on the decoder's `model.onnx`
 * (optimum's text-generation-with-past layout: `past_key_values.*` in, `present.*` out), in the
 * calling thread, on prompts tokenized before the clock starts. The `present.*` tensors of a
 * step are fed back unchanged as the next step's `past_key_values.*` (no copy, no bookkeeping);
 * the next token is the argmax of the last position's logits, with the EOS ids masked until
 * `minNewTokens` tokens exist (what `min_new_tokens` does elsewhere).
 *
 * Several streams at once are served as one static batch: the prompts left-padded together
 * (attention mask zeros over the padding, per-row position ids), one prompt pass, then one
 * decode step per token for all rows until every row has its tokens. That is the best a raw
 * loop can do when it knows every request in advance; it never admits a request mid-flight.
 */
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '../../ts/tokenizer.js';

export const name = 'floor';
export const note =
  'raw onnxruntime-node greedy loop, KV cache fed back as is (main thread); N streams = one static left-padded batch';

export async function open(target, { threads }) {
  const session = await ort.InferenceSession.create(target.onnxFile, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const tokenizer = Tokenizer.fromFile(target.dir);
  const config = target.config;
  const heads = config.num_key_value_heads ?? config.num_attention_heads ?? config.n_head;
  const headDim =
    config.head_dim ?? (config.hidden_size ?? config.n_embd) / (config.num_attention_heads ?? config.n_head);
  const pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  const presentOf = (past) => past.replace('past_key_values.', 'present.');
  const hasPositions = session.inputNames.includes('position_ids');
  const eos = new Set([config.eos_token_id].flat().filter((x) => typeof x === 'number'));
  const pad = config.pad_token_id ?? [config.eos_token_id].flat()[0] ?? 0;
  /** Time spent inside session.run (ms) and steps, for the per-step figures. */
  const stats = { runMs: 0, steps: 0, decodeRunMs: 0, decodeSteps: 0 };

  const encode = (text) => Array.from(tokenizer.encode(text).inputIds, Number);

  function argmax(logits, offset, vocab, maskEos) {
    let best = -1;
    let bestV = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < vocab; v++) {
      if (maskEos && eos.has(v)) continue;
      const x = logits[offset + v];
      if (x > bestV) {
        bestV = x;
        best = v;
      }
    }
    return best;
  }

  async function run(feeds, decode) {
    const t = performance.now();
    const out = await session.run(feeds);
    const ms = performance.now() - t;
    stats.runMs += ms;
    stats.steps++;
    if (decode) {
      stats.decodeRunMs += ms;
      stats.decodeSteps++;
    }
    return out;
  }

  /**
   * Greedy continuations of pre-tokenized prompts as one batch; `onToken(row)` after each row's
   * every new token. Returns the generated ids per row.
   */
  async function generateBatch(prompts, { maxNewTokens, minNewTokens, onToken }) {
    const rows = prompts.length;
    const width = Math.max(...prompts.map((p) => p.length));
    const ids = new BigInt64Array(rows * width).fill(BigInt(pad));
    const maskArr = [];
    const pos = new BigInt64Array(rows * width).fill(1n);
    prompts.forEach((p, r) => {
      const offset = width - p.length;
      const m = new Array(width).fill(0);
      p.forEach((id, j) => {
        ids[r * width + offset + j] = BigInt(id);
        pos[r * width + offset + j] = BigInt(j);
        m[offset + j] = 1;
      });
      maskArr.push(m);
    });
    const emptyPast = new Float32Array(0);
    let feeds = {
      input_ids: new ort.Tensor('int64', ids, [rows, width]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(maskArr.flat(), BigInt), [rows, width]),
    };
    if (hasPositions) feeds.position_ids = new ort.Tensor('int64', pos, [rows, width]);
    for (const n of pastNames) feeds[n] = new ort.Tensor('float32', emptyPast, [rows, heads, 0, headDim]);
    const generated = prompts.map(() => []);
    const next = prompts.map((p) => p.length);
    let out = await run(feeds, false);
    let seq = width;
    for (let step = 0; step < maxNewTokens; step++) {
      const logits = out.logits;
      const [, s, vocab] = logits.dims;
      const data = logits.data;
      const tokens = new BigInt64Array(rows);
      for (let r = 0; r < rows; r++) {
        const tok = argmax(data, (r * s + s - 1) * vocab, vocab, generated[r].length < minNewTokens);
        generated[r].push(tok);
        tokens[r] = BigInt(tok);
        onToken?.(r);
      }
      if (step === maxNewTokens - 1) break;
      seq++;
      for (const m of maskArr) m.push(1);
      feeds = {
        input_ids: new ort.Tensor('int64', tokens, [rows, 1]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from(maskArr.flat(), BigInt), [rows, seq]),
      };
      if (hasPositions)
        feeds.position_ids = new ort.Tensor(
          'int64',
          BigInt64Array.from(next, (n, r) => BigInt(n + generated[r].length - 1)),
          [rows, 1],
        );
      for (const n of pastNames) feeds[n] = out[presentOf(n)];
      out = await run(feeds, true);
    }
    return generated;
  }

  return {
    stats,
    encode,
    /** One stream: `onFirst` at the first token. */
    async one(promptIds, opts, onToken) {
      const [ids] = await generateBatch([promptIds], { ...opts, onToken: () => onToken?.(0) });
      return ids;
    },
    /** N streams as one static batch; `onToken(i)` per row per token. */
    many(promptIdsList, opts, onToken) {
      return generateBatch(promptIdsList, { ...opts, onToken });
    },
    close: () => session.release(),
  };
}

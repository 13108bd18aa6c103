/**
 * The encoder-decoder floor: a raw onnxruntime-node loop on `encoder_model.onnx` +
 * `decoder_model_merged.onnx` (optimum's text2text-generation-with-past layout), in the calling
 * thread, on inputs tokenized before the clock starts. The encoder runs once; the first decoder
 * step runs with `use_cache_branch = false` and empty past tensors, every later step with
 * `use_cache_branch = true`, the decoder's `present.*.decoder.*` fed back as the next
 * `past_key_values.*.decoder.*` and the first step's `present.*.encoder.*` kept throughout.
 *
 * Greedy: argmax of each row's logits, EOS masked until `minNewTokens` tokens exist. Beams: a
 * plain beam search over `numBeams` rows per request (log-softmax, top `numBeams` of beams x
 * vocabulary by cumulative score, the decoder cache rows gathered by each survivor's parent);
 * EOS is masked until `minNewTokens` like greedy, so with fixed lengths no hypothesis ends early
 * and the best row at the end is the answer. A cost floor, not the reference's beam rules
 * (length penalty, early stopping and finished-hypothesis bookkeeping are left out).
 *
 * N concurrent requests are one static batch (inputs right-padded together, attention mask
 * zeros over the padding), every row decoded together until all have their tokens: the best a
 * raw loop can do knowing every request in advance.
 */
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '../../ts/tokenizer.js';

export const name = 'floor';
export const note =
  'raw onnxruntime-node loop (encoder once, merged decoder, caches fed back; main thread); N requests = one static batch';

export async function open(target, { threads }) {
  const options = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  const encoder = await ort.InferenceSession.create(target.encoderFile, options);
  const decoder = await ort.InferenceSession.create(target.decoderFile, options);
  const tokenizer = Tokenizer.fromFile(target.dir);
  const config = target.config;
  const heads = config.decoder_attention_heads ?? config.num_heads ?? config.num_attention_heads;
  const headDim = (config.d_model ?? config.hidden_size) / heads;
  const pastNames = decoder.inputNames.filter((n) => n.startsWith('past_key_values.'));
  const selfPast = pastNames.filter((n) => n.includes('.decoder.'));
  const crossPast = pastNames.filter((n) => n.includes('.encoder.'));
  const presentOf = (past) => past.replace('past_key_values.', 'present.');
  const hasEncoderMask = decoder.inputNames.includes('encoder_attention_mask');
  const eos = new Set([config.eos_token_id].flat().filter((x) => typeof x === 'number'));
  const pad = config.pad_token_id ?? 0;
  const start = BigInt(config.decoder_start_token_id ?? pad);
  const stats = { runMs: 0, steps: 0 };

  const encode = (text) => Array.from(tokenizer.encode(text).inputIds, Number);

  async function run(session, feeds) {
    const t = performance.now();
    const out = await session.run(feeds);
    stats.runMs += performance.now() - t;
    stats.steps++;
    return out;
  }

  /** Encoder over right-padded inputs, each row repeated `repeat` times afterwards. */
  async function encodeBatch(inputs, repeat) {
    const rows = inputs.length;
    const width = Math.max(...inputs.map((p) => p.length));
    const ids = new BigInt64Array(rows * width).fill(BigInt(pad));
    const mask = new BigInt64Array(rows * width);
    inputs.forEach((p, r) => {
      p.forEach((id, j) => {
        ids[r * width + j] = BigInt(id);
        mask[r * width + j] = 1n;
      });
    });
    const out = await run(encoder, {
      input_ids: new ort.Tensor('int64', ids, [rows, width]),
      attention_mask: new ort.Tensor('int64', mask, [rows, width]),
    });
    const hidden = out.last_hidden_state;
    if (repeat === 1) return { hidden, mask: new ort.Tensor('int64', mask, [rows, width]), width };
    const d = hidden.dims[2];
    const h = new Float32Array(rows * repeat * width * d);
    const m = new BigInt64Array(rows * repeat * width);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < repeat; k++) {
        const row = r * repeat + k;
        h.set(hidden.data.subarray(r * width * d, (r + 1) * width * d), row * width * d);
        m.set(mask.subarray(r * width, (r + 1) * width), row * width);
      }
    }
    return {
      hidden: new ort.Tensor('float32', h, [rows * repeat, width, d]),
      mask: new ort.Tensor('int64', m, [rows * repeat, width]),
      width,
    };
  }

  /** Decoder steps over `rows` rows; `choose(logits)` gives each row's next token. */
  async function decodeLoop(enc, rows, maxNewTokens, choose, reorder) {
    const empty = new Float32Array(0);
    let tokens = new BigInt64Array(rows).fill(start);
    let past = {};
    for (const n of pastNames) past[n] = new ort.Tensor('float32', empty, [rows, heads, 0, headDim]);
    let cross = null;
    for (let step = 0; step < maxNewTokens; step++) {
      const feeds = {
        input_ids: new ort.Tensor('int64', tokens, [rows, 1]),
        encoder_hidden_states: enc.hidden,
        use_cache_branch: new ort.Tensor('bool', [step > 0], [1]),
        ...past,
      };
      if (hasEncoderMask) feeds.encoder_attention_mask = enc.mask;
      const out = await run(decoder, feeds);
      if (cross === null) cross = Object.fromEntries(crossPast.map((n) => [n, out[presentOf(n)]]));
      const { next, parents } = choose(out.logits, step);
      tokens = BigInt64Array.from(next, BigInt);
      past = { ...cross };
      for (const n of selfPast) {
        const present = out[presentOf(n)];
        past[n] = parents === null ? present : reorder(present, parents);
      }
    }
  }

  /** Rows of a cache tensor gathered by parent row. */
  function gather(tensor, parents) {
    const [rows, h, t, d] = tensor.dims;
    const size = h * t * d;
    const src = tensor.data;
    const dst = new Float32Array(rows * size);
    for (let r = 0; r < rows; r++)
      dst.set(src.subarray(parents[r] * size, (parents[r] + 1) * size), r * size);
    return new ort.Tensor('float32', dst, [rows, h, t, d]);
  }

  async function greedy(inputs, { maxNewTokens, minNewTokens }) {
    const rows = inputs.length;
    const enc = await encodeBatch(inputs, 1);
    const generated = inputs.map(() => []);
    await decodeLoop(
      enc,
      rows,
      maxNewTokens,
      (logits) => {
        const vocab = logits.dims[2];
        const data = logits.data;
        const next = new Array(rows);
        for (let r = 0; r < rows; r++) {
          const maskEos = generated[r].length < minNewTokens;
          let best = -1;
          let bestV = Number.NEGATIVE_INFINITY;
          const offset = r * vocab;
          for (let v = 0; v < vocab; v++) {
            if (maskEos && eos.has(v)) continue;
            if (data[offset + v] > bestV) {
              bestV = data[offset + v];
              best = v;
            }
          }
          next[r] = best;
          generated[r].push(best);
        }
        return { next, parents: null };
      },
      gather,
    );
    return generated;
  }

  async function beams(inputs, { maxNewTokens, minNewTokens, numBeams }) {
    const requests = inputs.length;
    const rows = requests * numBeams;
    const enc = await encodeBatch(inputs, numBeams);
    // Cumulative log-probabilities; only the first beam of each request is live at the start.
    let scores = Float64Array.from({ length: rows }, (_, r) => (r % numBeams === 0 ? 0 : -1e9));
    let seqs = Array.from({ length: rows }, () => []);
    await decodeLoop(
      enc,
      rows,
      maxNewTokens,
      (logits, step) => {
        const vocab = logits.dims[2];
        const data = logits.data;
        const maskEos = step < minNewTokens;
        const next = new Array(rows);
        const parents = new Array(rows);
        const nextScores = new Float64Array(rows);
        const nextSeqs = new Array(rows);
        for (let q = 0; q < requests; q++) {
          // Top numBeams (score, row, token) over this request's rows, kept sorted.
          const topS = new Float64Array(numBeams).fill(Number.NEGATIVE_INFINITY);
          const topR = new Int32Array(numBeams);
          const topV = new Int32Array(numBeams);
          for (let b = 0; b < numBeams; b++) {
            const r = q * numBeams + b;
            const offset = r * vocab;
            let max = Number.NEGATIVE_INFINITY;
            for (let v = 0; v < vocab; v++) if (data[offset + v] > max) max = data[offset + v];
            let sum = 0;
            for (let v = 0; v < vocab; v++) sum += Math.exp(data[offset + v] - max);
            const base = scores[r] - max - Math.log(sum);
            for (let v = 0; v < vocab; v++) {
              if (maskEos && eos.has(v)) continue;
              const s = base + data[offset + v];
              if (s <= topS[numBeams - 1]) continue;
              let k = numBeams - 1;
              while (k > 0 && topS[k - 1] < s) {
                topS[k] = topS[k - 1];
                topR[k] = topR[k - 1];
                topV[k] = topV[k - 1];
                k--;
              }
              topS[k] = s;
              topR[k] = r;
              topV[k] = v;
            }
          }
          for (let b = 0; b < numBeams; b++) {
            const r = q * numBeams + b;
            next[r] = topV[b];
            parents[r] = topR[b];
            nextScores[r] = topS[b];
            nextSeqs[r] = [...seqs[topR[b]], topV[b]];
          }
        }
        scores = nextScores;
        seqs = nextSeqs;
        return { next, parents };
      },
      gather,
    );
    // Rows are kept sorted by score: each request's first row is its best.
    return Array.from({ length: requests }, (_, q) => seqs[q * numBeams]);
  }

  const generate = (inputs, opts) => (opts.numBeams > 1 ? beams(inputs, opts) : greedy(inputs, opts));

  return {
    stats,
    encode,
    async one(input, opts) {
      const [ids] = await generate([input], opts);
      return { ids, text: tokenizer.decode(ids, { skip_special_tokens: true }) };
    },
    async many(inputs, opts) {
      const all = await generate(inputs, opts);
      return all.map((ids) => ({ ids, text: null }));
    },
    async close() {
      await encoder.release();
      await decoder.release();
    },
  };
}

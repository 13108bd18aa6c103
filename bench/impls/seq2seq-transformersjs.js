/**
 * transformers.js (`@huggingface/transformers`) summarization on the same ONNX files. It reads
 * `onnx/encoder_model.onnx` + `onnx/decoder_model_merged.onnx`, so a temporary folder gets
 * symlinks in that layout and the JSON files beside them. Greedy only (its generate() has no
 * beam search), the same fixed token counts; a streamer records each new token id for the parity
 * check. It runs its own onnxruntime-node in the calling thread; N requests are N concurrent
 * pipeline calls (its generate() does not batch across calls).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, pipeline } from '@huggingface/transformers';

export const name = 'transformers.js';
export const note =
  "@huggingface/transformers pipeline('summarization') on the same ONNX files (main thread)";

const FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

function layout(target) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-bench-tjs-'));
  const dir = path.join(root, 'model');
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  symlinkSync(target.encoderFile, path.join(dir, 'onnx', 'encoder_model.onnx'));
  symlinkSync(target.decoderFile, path.join(dir, 'onnx', 'decoder_model_merged.onnx'));
  for (const f of FILES) {
    const from = path.join(target.dir, f);
    if (existsSync(from)) symlinkSync(from, path.join(dir, f));
  }
  return root;
}

export async function open(target, { threads }) {
  const root = layout(target);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${root}${path.sep}`;
  const pipe = await pipeline('summarization', 'model', {
    dtype: 'fp32',
    device: 'cpu',
    local_files_only: true,
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  const one = async (text, opts) => {
    if (opts.numBeams > 1) throw new Error('transformers.js has no beam search');
    const ids = [];
    let prompt = true;
    const streamer = {
      put(value) {
        // The first call carries the decoder start token; then one call per step.
        if (prompt) {
          prompt = false;
          return;
        }
        ids.push(Number(value[0][0]));
      },
      end() {},
    };
    const out = await pipe(text, {
      max_new_tokens: opts.maxNewTokens,
      min_new_tokens: opts.minNewTokens,
      do_sample: false,
      num_beams: 1,
      streamer,
    });
    return { ids, text: out[0].summary_text };
  };
  return {
    one,
    many: (texts, opts) => Promise.all(texts.map((t) => one(t, opts))),
    async close() {
      await pipe.dispose();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

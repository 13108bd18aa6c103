/**
 * transformers.js (`@huggingface/transformers`) text generation on the same ONNX file. It wants
 * the `onnx/model.onnx` layout, so a temporary folder gets symlinks: `onnx/model.onnx` (and its
 * external data file) to the model file, and the JSON files beside it. Greedy, the same token
 * counts; a streamer records each new token (and its id, for the parity check). It runs
 * onnxruntime-node (its own pinned build) in the calling thread; N streams are N concurrent
 * pipeline calls (its generate() does not batch across calls).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, pipeline } from '@huggingface/transformers';

export const name = 'transformers.js';
export const note =
  "@huggingface/transformers pipeline('text-generation') on the same ONNX file (main thread)";

const FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
];

/** A folder in the transformers.js layout pointing at the target's files. */
function layout(target) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-bench-tjs-'));
  const dir = path.join(root, 'model');
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  symlinkSync(target.onnxFile, path.join(dir, 'onnx', 'model.onnx'));
  const data = `${target.onnxFile}_data`;
  const external = existsSync(data);
  if (external) symlinkSync(data, path.join(dir, 'onnx', 'model.onnx_data'));
  for (const f of FILES) {
    const from = path.join(target.dir, f);
    if (existsSync(from)) symlinkSync(from, path.join(dir, f));
  }
  return { root, external };
}

export async function open(target, { threads }) {
  const { root, external } = layout(target);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${root}${path.sep}`;
  const pipe = await pipeline('text-generation', 'model', {
    dtype: 'fp32',
    device: 'cpu',
    local_files_only: true,
    ...(external && { use_external_data_format: true }),
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  const one = async (text, opts, onToken) => {
    const ids = [];
    let prompt = true;
    const streamer = {
      put(value) {
        // The first call carries the prompt; then one call per step with the new token.
        if (prompt) {
          prompt = false;
          return;
        }
        ids.push(Number(value[0][0]));
        onToken?.();
      },
      end() {},
    };
    await pipe(text, {
      max_new_tokens: opts.maxNewTokens,
      min_new_tokens: opts.minNewTokens,
      do_sample: false,
      return_full_text: false,
      streamer,
    });
    return ids;
  };
  return {
    one,
    many: (texts, opts, onToken) => Promise.all(texts.map((t, i) => one(t, opts, () => onToken?.(i)))),
    async close() {
      await pipe.dispose();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

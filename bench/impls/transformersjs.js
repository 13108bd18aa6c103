/**
 * transformers.js (`@huggingface/transformers`), pointed at the very same local model folder and
 * ONNX file, remote loading off. It runs onnxruntime-node (its own pinned version) in the calling
 * thread. Sentence similarity is its feature-extraction (mean pooling, normalized) plus dot
 * products, which is what a sentence-similarity call computes.
 */
import path from 'node:path';
import { env, pipeline } from '@huggingface/transformers';

export const name = 'transformers.js';
export const note = '@huggingface/transformers pipeline() on the same ONNX file (main thread)';

export async function open(target, { threads, device = 'cpu' }) {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${path.dirname(target.dir)}${path.sep}`;
  const modelName = path.basename(target.dir);
  const subfolder = path.dirname(target.onnx) === '.' ? '' : path.dirname(target.onnx);
  const task = target.kind === 'ner' ? 'token-classification' : 'feature-extraction';
  const pipe = await pipeline(task, modelName, {
    dtype: target.dtype,
    subfolder,
    device,
    local_files_only: true,
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  const embed = (texts) => pipe(texts, { pooling: 'mean', normalize: true });
  let one;
  if (target.kind === 'ner') one = (text) => pipe(text);
  else if (target.kind === 'embed') one = (text) => embed(text);
  else {
    one = async ({ source_sentence, sentences }) => {
      const out = await embed([source_sentence, ...sentences]);
      const [n, dim] = out.dims;
      const v = out.data;
      const scores = [];
      for (let r = 1; r < n; r++) {
        let dot = 0;
        for (let k = 0; k < dim; k++) dot += v[k] * v[r * dim + k];
        scores.push(dot);
      }
      return scores;
    };
  }
  return {
    one,
    batch: (texts) => (target.kind === 'ner' ? pipe(texts) : embed(texts)),
    round: (inputs) => Promise.all(inputs.map(one)),
    close: () => pipe.dispose(),
  };
}

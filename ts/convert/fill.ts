/**
 * The weight fill: a weight-free ONNX graph of a known architecture (exported once with optimum
 * and committed under graphs/<name>/, gzipped when large; see scripts/graphs/export_graphs.py) whose initializers
 * point into an external data file, and its map (`weights.json`): for each initializer, the
 * checkpoint tensor it holds, its dtype, shape, transform and byte range. Filling writes that
 * data file from a published checkpoint (safetensors, GGUF, ...) and copies the graph beside it.
 */
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { conversionError, numel, type SourceTensor, type TensorSource } from './tensor.js';

export const WEIGHT_MAP_FORMAT = 'hf-tasks weight map v1';

export type Transform = 'none' | 'transpose';

export interface WeightMapEntry {
  /** Initializer name in the graph. */
  name: string;
  /** Tensor name in the transformers checkpoint. */
  source: string;
  dtype: 'float32';
  shape: number[];
  transform: Transform;
  /** Rows `[start, end)` of the source (its first axis), before the transform: one part of a fused tensor. */
  rows?: [number, number];
  /** Byte range in the external data file. */
  offset: number;
  length: number;
}

export interface WeightMap {
  format: string;
  model: string;
  export: string;
  sourceFormat: string;
  /** The graph's file name (the ONNX file written). */
  graph: string;
  /** The external data file's name, as the graph's initializers name it. */
  data: string;
  dataLength: number;
  /** Small constants that stay inside the graph. */
  inline: string[];
  tensors: WeightMapEntry[];
}

/** The folder of the committed graphs (`graphs/` at the package root). */
export function graphsDir(): string {
  return fileURLToPath(new URL('../../graphs/', import.meta.url));
}

export function loadWeightMap(dir: string): WeightMap {
  const map = JSON.parse(readFileSync(path.join(dir, 'weights.json'), 'utf8')) as WeightMap;
  if (map.format !== WEIGHT_MAP_FORMAT) throw conversionError(`${dir}: not a ${WEIGHT_MAP_FORMAT}`);
  return map;
}

/** Rows `[start, end)` of a tensor (its first axis). */
function sliceRows(t: SourceTensor, [start, end]: [number, number], what: string): SourceTensor {
  const rows = t.shape[0] ?? 0;
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= rows)) {
    throw conversionError(`${what}: rows [${start}, ${end}) outside [0, ${rows})`);
  }
  const width = rows === 0 ? 0 : t.data.length / rows;
  return { data: t.data.subarray(start * width, end * width), shape: [end - start, ...t.shape.slice(1)] };
}

/** The source tensor laid out as the initializer wants it. */
export function transformTensor(source: SourceTensor, entry: WeightMapEntry): Float32Array {
  const t = entry.rows ? sliceRows(source, entry.rows, entry.name) : source;
  const want = entry.shape;
  if (entry.transform === 'none') {
    if (numel(t.shape) !== numel(want) || t.shape.join('x') !== want.join('x')) {
      throw conversionError(`${entry.source} has shape [${t.shape}], ${entry.name} needs [${want}]`);
    }
    return t.data;
  }
  const [rows, cols] = t.shape;
  if (
    t.shape.length !== 2 ||
    rows === undefined ||
    cols === undefined ||
    want[0] !== cols ||
    want[1] !== rows
  ) {
    throw conversionError(`${entry.source} [${t.shape}] does not transpose to ${entry.name} [${want}]`);
  }
  const out = new Float32Array(rows * cols);
  const src = t.data;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[base + c] as number;
  }
  return out;
}

async function write(stream: NodeJS.WritableStream, chunk: Uint8Array): Promise<void> {
  if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}

/**
 * Writes `<outDir>/<map.graph>` (the committed graph) and `<outDir>/<map.data>` (every
 * initializer's bytes at its offset, from `source`). Returns the two paths.
 */
export async function fillWeights(
  graphDir: string,
  source: TensorSource,
  outDir: string,
): Promise<{ graph: string; data: string }> {
  const map = loadWeightMap(graphDir);
  const regions = [...new Map(map.tensors.map((t) => [t.offset, t])).values()].sort(
    (a, b) => a.offset - b.offset,
  );
  const present = new Set(source.names());
  const absent = regions.filter((r) => !present.has(r.source)).map((r) => r.source);
  if (absent.length > 0) throw conversionError(`the checkpoint lacks ${absent.slice(0, 5).join(', ')}`);
  await fs.mkdir(outDir, { recursive: true });
  const dataPath = path.join(outDir, map.data);
  const out = createWriteStream(dataPath);
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', () => resolve());
    out.on('error', reject);
  });
  done.catch(() => undefined);
  try {
    let written = 0;
    for (const entry of regions) {
      if (entry.offset < written) throw conversionError(`${entry.name}: overlapping byte ranges in the map`);
      if (entry.offset > written) await write(out, new Uint8Array(entry.offset - written));
      const values = transformTensor(source.get(entry.source), entry);
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      if (bytes.length !== entry.length)
        throw conversionError(`${entry.name}: ${bytes.length} bytes, map says ${entry.length}`);
      await write(out, bytes);
      written = entry.offset + entry.length;
    }
    if (written !== map.dataLength)
      throw conversionError(`data length ${written}, map says ${map.dataLength}`);
  } finally {
    out.end();
  }
  await done;
  const graphPath = path.join(outDir, map.graph);
  await fs.writeFile(graphPath, graphBytes(graphDir, map));
  return { graph: graphPath, data: dataPath };
}

/** The committed graph's bytes: `<graph>`, or `<graph>.gz` (large graphs are committed gzipped). */
export function graphBytes(graphDir: string, map: Pick<WeightMap, 'graph'>): Buffer {
  const plain = path.join(graphDir, map.graph);
  if (existsSync(plain)) return readFileSync(plain);
  return gunzipSync(readFileSync(`${plain}.gz`));
}

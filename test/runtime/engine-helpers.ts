/** Shared helpers of the engine tests: seeded token feeds for the tiny fixture models. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseModelConfig } from '../../ts/runtime/config.js';
import type { TensorLike } from '../../ts/runtime/runner.js';

export const MODELS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models');

export function modelFile(name: string): string {
  return path.join(MODELS_DIR, name, 'model.onnx');
}

/** Every fixture model folder that holds a model.onnx. */
/** The encoder fixtures (one ONNX file, no generation_config.json: decoders have their own engine). */
export function fixtureModels(): string[] {
  return readdirSync(MODELS_DIR)
    .filter((d) => {
      const files = readdirSync(path.join(MODELS_DIR, d));
      // Token-input encoders only: decoders, image/audio models (preprocessor_config.json) and
      // TAPAS (its own tokenizer, no tokenizer.json) take other inputs.
      if (
        !files.includes('model.onnx') ||
        !files.includes('tokenizer.json') ||
        files.includes('generation_config.json') ||
        files.includes('preprocessor_config.json')
      )
        return false;
      // A decoder-only classifier without a pad id reads its last position whatever the
      // padding: the engine never stacks its calls (config.json's unpaddedRows).
      const text = readFileSync(path.join(MODELS_DIR, d, 'config.json'), 'utf8');
      return !parseModelConfig(text, JSON.parse(text) as Record<string, unknown>).unpaddedRows;
    })
    .sort();
}

export interface ModelFacts {
  vocabSize: number;
  padId: number;
  maxPositions: number;
}

export function modelFacts(name: string): ModelFacts {
  const cfg = JSON.parse(readFileSync(path.join(MODELS_DIR, name, 'config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  return {
    vocabSize: Number(cfg.vocab_size),
    padId: Number(cfg.pad_token_id ?? 0),
    maxPositions: Number(cfg.max_position_embeddings ?? cfg.n_positions),
  };
}

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Feeds of one call: `rows` sequences padded (by the caller) to `len`; each row has its own
 * real length (at least 2) followed by caller-side padding, like a tokenizer's padded batch.
 */
export function tokenFeeds(
  inputNames: readonly string[],
  facts: ModelFacts,
  rows: number,
  len: number,
  seed: number,
): Record<string, TensorLike> {
  const next = rng(seed);
  const ids = new BigInt64Array(rows * len).fill(BigInt(facts.padId));
  const mask = new BigInt64Array(rows * len);
  const types = new BigInt64Array(rows * len);
  for (let r = 0; r < rows; r++) {
    const real = r === 0 ? len : Math.max(2, Math.floor(next() * len) + 1);
    const split = Math.max(1, Math.floor(real / 2));
    for (let i = 0; i < real; i++) {
      ids[r * len + i] = BigInt(5 + Math.floor(next() * (facts.vocabSize - 5)));
      mask[r * len + i] = 1n;
      types[r * len + i] = i >= split ? 1n : 0n;
    }
  }
  const feeds: Record<string, TensorLike> = {};
  // Positions as a text pipeline feeds them: 0, 1, ... along each row.
  const positions = new BigInt64Array(rows * len);
  for (let r = 0; r < rows; r++) for (let i = 0; i < len; i++) positions[r * len + i] = BigInt(i);
  const all: Record<string, BigInt64Array> = {
    input_ids: ids,
    attention_mask: mask,
    token_type_ids: types,
    position_ids: positions,
  };
  for (const name of inputNames) {
    const data = all[name];
    if (data === undefined) throw new Error(`no test data for input ${name}`);
    feeds[name] = { type: 'int64', data, dims: [rows, len] };
  }
  return feeds;
}

/** A tensor's elements as plain values (bigints for int64); throws when the tensor is missing. */
export function values(t: TensorLike | undefined): Array<number | bigint> {
  if (t === undefined) throw new Error('missing tensor');
  return [...t.data];
}

/** Largest absolute difference between two outputs of the same shape (Infinity when shapes differ). */
export function maxAbsDiff(a: TensorLike, b: TensorLike): number {
  if (a.type !== b.type || a.dims.join() !== b.dims.join() || a.data.length !== b.data.length) {
    return Number.POSITIVE_INFINITY;
  }
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(Number(a.data[i]) - Number(b.data[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}

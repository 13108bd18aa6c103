/**
 * Hostile model files: seeded mutation fuzzing of the GGUF, safetensors and CTranslate2 readers
 * (bytes flipped, fields overwritten with extreme values, files cut short or padded). Every
 * outcome is a parsed file whose tensors read, or a typed `ERR_MODEL_FILE` error: never another
 * exception (RangeError from an out-of-bounds read, TypeError, out-of-memory from a claimed
 * size) and never a hang.
 */
import test from 'ava';
import { CTranslate2File } from '../../ts/convert/ctranslate2.js';
import { GGML_TYPES, GgufFile } from '../../ts/convert/gguf.js';
import { SafetensorsFile } from '../../ts/convert/safetensors.js';
import type { TensorSource } from '../../ts/convert/tensor.js';
import { ModelError } from '../../ts/errors.js';
import { ct2, gguf, safetensors } from './builders.js';

const MUTANTS_PER_SEED = 5000;

/** mulberry32: a small seeded generator, so a failure names a reproducible case. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EXTREMES = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff];

/** One mutation of `seed`: byte flips, an extreme 1/2/4/8-byte field, a cut or random padding. */
function mutate(seed: Buffer, next: () => number): Buffer {
  const pick = (n: number) => Math.floor(next() * n);
  const out = Buffer.from(seed);
  switch (pick(4)) {
    case 0: {
      for (let i = 0, n = 1 + pick(4); i < n; i++) out[pick(out.length)] = pick(256);
      return out;
    }
    case 1: {
      const width = [1, 2, 4, 8][pick(4)] ?? 4;
      const at = pick(Math.max(1, out.length - width));
      const value = EXTREMES[pick(EXTREMES.length)] ?? 0;
      for (let i = 0; i < width && at + i < out.length; i++)
        out[at + i] = i < 4 ? (value >>> (8 * i)) & 0xff : 0;
      if (width === 8 && at + 7 < out.length && next() < 0.5) out.fill(0xff, at, at + 8);
      return out;
    }
    case 2:
      return out.subarray(0, pick(out.length));
    default: {
      const pad = Buffer.alloc(1 + pick(64));
      for (let i = 0; i < pad.length; i++) pad[i] = pick(256);
      return Buffer.concat([out, pad]);
    }
  }
}

function readAll(source: TensorSource): void {
  for (const name of source.names()) source.get(name);
}

function fuzz(
  t: import('ava').ExecutionContext,
  seeds: Buffer[],
  parse: (bytes: Buffer) => TensorSource,
  salt: number,
): void {
  // The seeds themselves are valid files.
  for (const s of seeds) readAll(parse(s));
  let parsed = 0;
  let rejected = 0;
  for (const [k, seed] of seeds.entries()) {
    const next = rng(salt * 1000 + k);
    for (let i = 0; i < MUTANTS_PER_SEED; i++) {
      const bytes = mutate(seed, next);
      try {
        readAll(parse(bytes));
        parsed++;
      } catch (err) {
        if (!(err instanceof ModelError) || err.code !== 'ERR_MODEL_FILE') {
          t.fail(`seed ${k}, mutant ${i}: ${(err as Error)?.name}: ${(err as Error)?.message}`);
          return;
        }
        rejected++;
      }
    }
  }
  t.true(rejected > 0, 'mutations were rejected');
  t.log(`${parsed} mutants parsed, ${rejected} rejected with ERR_MODEL_FILE`);
}

const f32 = (v: number[]) => Buffer.from(new Float32Array(v).buffer);

test('GGUF: mutated files parse or fail with ERR_MODEL_FILE', (t) => {
  const q8 = Buffer.alloc(34);
  q8.writeUInt16LE(0x3c00, 0); // scale 1.0 (f16), then 32 int8 quants
  for (let i = 0; i < 32; i++) q8.writeInt8(i - 16, 2 + i);
  const seeds = [
    gguf(
      [
        ['general.architecture', 'str', 'llama'],
        ['llama.block_count', 'u32', 1],
        ['tokenizer.ggml.tokens', 'strs', ['a', 'b', '<s>']],
        ['tokenizer.ggml.token_type', 'i32s', [1, 1, 3]],
      ],
      [
        ['token_embd.weight', [4, 2], GGML_TYPES.F32, f32([1, 2, 3, 4, 5, 6, 7, 8])],
        ['blk.0.ffn_down.weight', [32, 1], GGML_TYPES.Q8_0, q8],
      ],
    ),
  ];
  const parse = (bytes: Buffer): TensorSource => {
    const file = GgufFile.parse(bytes);
    return {
      names: () => [...file.tensors.keys()],
      get: (name) => ({ data: file.dequantize(name), shape: file.tensors.get(name)?.dims ?? [] }),
    };
  };
  fuzz(t, seeds, parse, 1);
});

test('safetensors: mutated files parse or fail with ERR_MODEL_FILE', (t) => {
  const seeds = [
    safetensors([
      ['a.weight', 'F32', [2, 2], f32([1, 2, 3, 4])],
      ['b.bias', 'F16', [2], Buffer.from(new Uint16Array([0x3c00, 0xc000]).buffer)],
    ]),
  ];
  fuzz(t, seeds, (bytes) => SafetensorsFile.parse(bytes), 2);
});

test('CTranslate2: mutated files parse or fail with ERR_MODEL_FILE', (t) => {
  const seeds = [
    ct2(
      [
        ['encoder/conv1/weight', [2, 2], 0, f32([1, 2, 3, 4])],
        ['encoder/conv1/bias', [2], 0, f32([5, 6])],
      ],
      [['decoder/embeddings/weight', 'encoder/conv1/weight']],
    ),
  ];
  fuzz(t, seeds, (bytes) => CTranslate2File.parse(bytes), 3);
});

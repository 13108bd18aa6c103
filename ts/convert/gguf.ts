/**
 * A GGUF reader (versions 2 and 3): header, metadata key/values, tensor infos and the aligned
 * data section; dequantisation of F32, F16, BF16, Q4_0, Q4_1 and Q8_0 tensors to float32 with
 * the same float32 arithmetic as gguf-py (what transformers loads GGUF files with); and a
 * `TensorSource` that names the tensors as transformers' checkpoints do, for llama.
 */
import fs from 'node:fs/promises';
import {
  bf16ToFloat,
  conversionError,
  halfToFloat,
  numel,
  type SourceTensor,
  type TensorSource,
} from './tensor.js';

/** Limits on what a GGUF header may declare (far above any real model's). */
export const GGUF_LIMITS = {
  /** Metadata entries. */
  maxKeyValues: 1 << 16,
  /** Tensors. */
  maxTensors: 1 << 20,
  /** Items in one metadata array (a vocabulary, its merges). */
  maxArrayItems: 1 << 24,
  /** Bytes in one metadata string (a chat template). */
  maxStringBytes: 1 << 24,
  /** Dimensions of one tensor. */
  maxDims: 8,
};

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export const GGML_TYPES = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8, BF16: 30 } as const;

/** [elements per block, bytes per block] of the supported tensor types. */
const BLOCKS: Record<number, [number, number]> = {
  0: [1, 4],
  1: [1, 2],
  2: [32, 18],
  3: [32, 20],
  8: [32, 34],
  30: [1, 2],
};
const TYPE_NAMES: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  8: 'Q8_0',
  30: 'BF16',
};

export interface GgufTensorInfo {
  name: string;
  /** GGUF dimensions, innermost first (`ne[0]` is the row length). */
  dims: number[];
  type: number;
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

class Cursor {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw conversionError(`${this.what}: truncated header`);
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A u64 that must fit a JS number below `max`. */
  count(max: number, what: string): number {
    const v = this.u64();
    if (v > BigInt(max)) throw conversionError(`${this.what}: ${what} ${v} exceeds the limit ${max}`);
    return Number(v);
  }
  string(): string {
    const n = this.count(GGUF_LIMITS.maxStringBytes, 'string length');
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  value(type: number): GgufValue {
    const b = this.buf;
    const at = (n: number) => {
      this.need(n);
      const p = this.pos;
      this.pos += n;
      return p;
    };
    switch (type) {
      case 0:
        return b.readUInt8(at(1));
      case 1:
        return b.readInt8(at(1));
      case 2:
        return b.readUInt16LE(at(2));
      case 3:
        return b.readInt16LE(at(2));
      case 4:
        return b.readUInt32LE(at(4));
      case 5:
        return b.readInt32LE(at(4));
      case 6:
        return b.readFloatLE(at(4));
      case 7:
        return b.readUInt8(at(1)) !== 0;
      case 8:
        return this.string();
      case 9: {
        const itemType = this.u32();
        if (itemType === 9) throw conversionError(`${this.what}: nested metadata arrays are not supported`);
        const n = this.count(GGUF_LIMITS.maxArrayItems, 'array length');
        const out: GgufValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(itemType);
        return out;
      }
      case 10:
        return b.readBigUInt64LE(at(8));
      case 11:
        return b.readBigInt64LE(at(8));
      case 12:
        return b.readDoubleLE(at(8));
      default:
        throw conversionError(`${this.what}: unknown metadata type ${type}`);
    }
  }
}

export class GgufFile {
  private constructor(
    readonly version: number,
    readonly metadata: ReadonlyMap<string, GgufValue>,
    readonly tensors: ReadonlyMap<string, GgufTensorInfo>,
    private readonly bytes: Buffer,
  ) {}

  static async open(file: string): Promise<GgufFile> {
    return GgufFile.parse(await fs.readFile(file), file);
  }

  static parse(bytes: Buffer, what = 'GGUF data'): GgufFile {
    const c = new Cursor(bytes, what);
    if (bytes.length < 4 || bytes.toString('latin1', 0, 4) !== 'GGUF')
      throw conversionError(`${what}: not a GGUF file`);
    c.pos = 4;
    const version = c.u32();
    if (version !== 2 && version !== 3)
      throw conversionError(`${what}: GGUF version ${version} is not supported (2, 3)`);
    const tensorCount = c.count(GGUF_LIMITS.maxTensors, 'tensor count');
    const kvCount = c.count(GGUF_LIMITS.maxKeyValues, 'metadata count');
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = c.string();
      metadata.set(key, c.value(c.u32()));
    }
    const infos: Array<Omit<GgufTensorInfo, 'offset' | 'byteLength'> & { rel: bigint }> = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = c.string();
      const nDims = c.u32();
      if (nDims > GGUF_LIMITS.maxDims) throw conversionError(`${what}: ${name} has ${nDims} dimensions`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) dims.push(c.count(Number.MAX_SAFE_INTEGER, 'dimension'));
      infos.push({ name, dims, type: c.u32(), rel: c.u64() });
    }
    const alignValue = metadata.get('general.alignment');
    const alignment = typeof alignValue === 'number' && alignValue > 0 ? alignValue : 32;
    const dataStart = Math.ceil(c.pos / alignment) * alignment;
    const tensors = new Map<string, GgufTensorInfo>();
    for (const t of infos) {
      const block = BLOCKS[t.type];
      const n = numel(t.dims);
      const byteLength = block && n % block[0] === 0 ? (n / block[0]) * block[1] : Number.NaN;
      const offset = dataStart + Number(t.rel);
      if (block && (Number.isNaN(byteLength) || offset + byteLength > bytes.length)) {
        throw conversionError(`${what}: tensor ${t.name} lies outside the file`);
      }
      tensors.set(t.name, { name: t.name, dims: t.dims, type: t.type, offset, byteLength });
    }
    return new GgufFile(version, metadata, tensors, bytes);
  }

  /** A metadata value, checked against the expected kind. */
  get<T extends 'number' | 'string' | 'boolean'>(
    key: string,
    kind: T,
  ): (T extends 'number' ? number : T extends 'string' ? string : boolean) | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    const value = typeof v === 'bigint' && kind === 'number' ? Number(v) : v;
    if (typeof value !== kind) throw conversionError(`GGUF metadata ${key} is not a ${kind}`);
    return value as never;
  }

  require<T extends 'number' | 'string' | 'boolean'>(key: string, kind: T) {
    const v = this.get(key, kind);
    if (v === undefined) throw conversionError(`GGUF metadata lacks ${key}`);
    return v;
  }

  /** A metadata array of strings or numbers. */
  array<T extends string | number>(key: string, kind: 'string' | 'number'): T[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === kind)) {
      throw conversionError(`GGUF metadata ${key} is not an array of ${kind}s`);
    }
    return v as T[];
  }

  /** A tensor's values as float32, in GGUF order (row-major with `dims[0]` fastest). */
  dequantize(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw conversionError(`GGUF file lacks tensor ${name}`);
    const raw = this.bytes.subarray(t.offset, t.offset + t.byteLength);
    const n = numel(t.dims);
    const out = new Float32Array(n);
    switch (t.type) {
      case GGML_TYPES.F32:
        for (let i = 0; i < n; i++) out[i] = raw.readFloatLE(i * 4);
        break;
      case GGML_TYPES.F16:
        for (let i = 0; i < n; i++) out[i] = halfToFloat(raw.readUInt16LE(i * 2));
        break;
      case GGML_TYPES.BF16:
        for (let i = 0; i < n; i++) out[i] = bf16ToFloat(raw.readUInt16LE(i * 2));
        break;
      case GGML_TYPES.Q8_0:
        // Blocks of 32: f16 scale d, 32 int8 q; x = q * d.
        for (let b = 0, o = 0; o < n; b += 34, o += 32) {
          const d = halfToFloat(raw.readUInt16LE(b));
          for (let j = 0; j < 32; j++) out[o + j] = raw.readInt8(b + 2 + j) * d;
        }
        break;
      case GGML_TYPES.Q4_0:
        // Blocks of 32: f16 scale d, 16 bytes of nibbles (low nibbles first); x = (q - 8) * d.
        for (let b = 0, o = 0; o < n; b += 18, o += 32) {
          const d = halfToFloat(raw.readUInt16LE(b));
          for (let j = 0; j < 16; j++) {
            const q = raw[b + 2 + j] as number;
            out[o + j] = ((q & 0x0f) - 8) * d;
            out[o + j + 16] = ((q >> 4) - 8) * d;
          }
        }
        break;
      case GGML_TYPES.Q4_1:
        // Blocks of 32: f16 scale d, f16 minimum m, 16 bytes of nibbles; x = q * d + m, in
        // float32 (the product is exact, so one rounding of the sum, as gguf-py does).
        for (let b = 0, o = 0; o < n; b += 20, o += 32) {
          const d = halfToFloat(raw.readUInt16LE(b));
          const m = halfToFloat(raw.readUInt16LE(b + 2));
          for (let j = 0; j < 16; j++) {
            const q = raw[b + 4 + j] as number;
            out[o + j] = (q & 0x0f) * d + m;
            out[o + j + 16] = (q >> 4) * d + m;
          }
        }
        break;
      default:
        throw conversionError(
          `GGUF tensor ${name} has type ${TYPE_NAMES[t.type] ?? t.type}; supported: ${Object.values(TYPE_NAMES).join(', ')}`,
        );
    }
    return out;
  }
}

/**
 * Undoes llama.cpp's rotary permutation of the Q/K projection rows: GGUF holds each head's rows
 * as interleaved (pair, half) where transformers has (half, pair).
 */
export function unpermuteRows(data: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const half = rows / heads / 2;
  if (!Number.isInteger(half)) throw conversionError(`${rows} rows do not split into ${heads} rotary heads`);
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let i = 0; i < 2; i++) {
        const from = (h * half * 2 + j * 2 + i) * cols;
        const to = (h * half * 2 + i * half + j) * cols;
        out.set(data.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

const LLAMA_BLOCK: Record<string, string> = {
  attn_norm: 'input_layernorm',
  ffn_norm: 'post_attention_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};
const LLAMA_GLOBAL: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

/** The transformers checkpoint name of a llama GGUF tensor, or undefined (e.g. `rope_freqs`). */
export function llamaTensorName(ggufName: string): string | undefined {
  const global = LLAMA_GLOBAL[ggufName];
  if (global) return global;
  const m = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(ggufName);
  const part = m ? LLAMA_BLOCK[m[2] as string] : undefined;
  return m && part ? `model.layers.${m[1]}.${part}.${m[3]}` : undefined;
}

/** A llama GGUF file's tensors under transformers' names, Q/K rows in transformers' order. */
export class LlamaGgufSource implements TensorSource {
  private readonly byName = new Map<string, string>();
  private readonly heads: number;
  private readonly kvHeads: number;

  constructor(private readonly gguf: GgufFile) {
    const arch = gguf.require('general.architecture', 'string');
    if (arch !== 'llama') throw conversionError(`GGUF architecture ${arch}; expected llama`);
    this.heads = gguf.require('llama.attention.head_count', 'number');
    this.kvHeads = gguf.get('llama.attention.head_count_kv', 'number') ?? this.heads;
    for (const name of gguf.tensors.keys()) {
      const hf = llamaTensorName(name);
      if (hf) this.byName.set(hf, name);
    }
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  get(name: string): SourceTensor {
    const ggufName = this.byName.get(name);
    const info = ggufName === undefined ? undefined : this.gguf.tensors.get(ggufName);
    if (ggufName === undefined || !info) throw conversionError(`GGUF file lacks a tensor for ${name}`);
    const shape = [...info.dims].reverse();
    let data = this.gguf.dequantize(ggufName);
    const [rows, cols] = shape;
    if (shape.length === 2 && rows !== undefined && cols !== undefined) {
      if (ggufName.includes('.attn_q.')) data = unpermuteRows(data, rows, cols, this.heads);
      else if (ggufName.includes('.attn_k.')) data = unpermuteRows(data, rows, cols, this.kvHeads);
    }
    return { data, shape };
  }
}

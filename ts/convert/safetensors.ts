/**
 * A reader for the safetensors format: an 8-byte little-endian header length, a JSON header
 * (`name -> {dtype, shape, data_offsets}` plus an optional `__metadata__`), then the raw
 * little-endian tensor bytes, offsets relative to the end of the header.
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

/** Largest accepted JSON header (the format's own limit is 100 MB). */
export const MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024;

interface Entry {
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4 };

export class SafetensorsFile implements TensorSource {
  private constructor(
    private readonly bytes: Buffer,
    private readonly dataStart: number,
    private readonly entries: Map<string, Entry>,
  ) {}

  static async open(file: string): Promise<SafetensorsFile> {
    return SafetensorsFile.parse(await fs.readFile(file), file);
  }

  static parse(bytes: Buffer, what = 'safetensors data'): SafetensorsFile {
    if (bytes.length < 8) throw conversionError(`${what}: too short for a safetensors file`);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    if (headerLength > MAX_SAFETENSORS_HEADER || 8 + headerLength > bytes.length) {
      throw conversionError(`${what}: header length ${headerLength} is out of range`);
    }
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw conversionError(`${what}: the header is not JSON (${(err as Error).message})`);
    }
    const dataStart = 8 + headerLength;
    const entries = new Map<string, Entry>();
    for (const [name, value] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const offsets = v.data_offsets;
      if (
        typeof v.dtype !== 'string' ||
        !Array.isArray(v.shape) ||
        !v.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0) ||
        !Array.isArray(offsets) ||
        offsets.length !== 2 ||
        !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
      ) {
        throw conversionError(`${what}: bad header entry for ${name}`);
      }
      const [begin, end] = offsets as [number, number];
      const shape = v.shape as number[];
      const width = BYTES[v.dtype];
      if (width !== undefined && end - begin !== numel(shape) * width) {
        throw conversionError(
          `${what}: ${name} holds ${end - begin} bytes, its shape needs ${numel(shape) * width}`,
        );
      }
      if (begin > end || dataStart + end > bytes.length) {
        throw conversionError(`${what}: ${name} lies outside the file`);
      }
      entries.set(name, { dtype: v.dtype, shape, begin, end });
    }
    return new SafetensorsFile(bytes, dataStart, entries);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The tensor's values as float32 (from F32, F16 or BF16). */
  get(name: string): SourceTensor {
    const e = this.entries.get(name);
    if (!e) throw conversionError(`safetensors file lacks tensor ${name}`);
    const n = numel(e.shape);
    const raw = this.bytes.subarray(this.dataStart + e.begin, this.dataStart + e.end);
    const data = new Float32Array(n);
    if (e.dtype === 'F32') {
      for (let i = 0; i < n; i++) data[i] = raw.readFloatLE(i * 4);
    } else if (e.dtype === 'F16') {
      for (let i = 0; i < n; i++) data[i] = halfToFloat(raw.readUInt16LE(i * 2));
    } else if (e.dtype === 'BF16') {
      for (let i = 0; i < n; i++) data[i] = bf16ToFloat(raw.readUInt16LE(i * 2));
    } else {
      throw conversionError(`safetensors tensor ${name} has dtype ${e.dtype}; expected F32, F16 or BF16`);
    }
    return { data, shape: [...e.shape] };
  }
}

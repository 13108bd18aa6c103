/**
 * A reader for CTranslate2 `model.bin` files (binary versions 2 to 6): the spec name and
 * revision, then each variable (name, rank, dimensions, dtype, byte count, data) and the aliases
 * (a name that stands for another variable). float32, float16 and bfloat16 variables read as
 * float32; an int8 weight is dequantised with its per-row `<name>_scale` (q / scale), as
 * CTranslate2 quantises. Names are CTranslate2's (`encoder/layer_0/self_attention/linear_0/weight`);
 * a weight map names them directly, with `rows` to take one part of a fused projection.
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

/** CTranslate2's DataType ids. */
const CT2_DTYPES = ['float32', 'int8', 'int16', 'int32', 'float16', 'bfloat16'] as const;
const CT2_WIDTH = [4, 1, 2, 4, 2, 2];
/** Largest variable count accepted. */
export const MAX_CT2_VARIABLES = 1 << 20;

interface Variable {
  dtype: (typeof CT2_DTYPES)[number];
  shape: number[];
  begin: number;
  end: number;
}

export class CTranslate2File implements TensorSource {
  private constructor(
    readonly spec: string,
    readonly revision: number,
    readonly binaryVersion: number,
    private readonly variables: Map<string, Variable>,
    readonly aliases: ReadonlyMap<string, string>,
    private readonly bytes: Buffer,
  ) {}

  static async open(file: string): Promise<CTranslate2File> {
    return CTranslate2File.parse(await fs.readFile(file), file);
  }

  static parse(bytes: Buffer, what = 'CTranslate2 model'): CTranslate2File {
    let pos = 0;
    const need = (n: number) => {
      if (pos + n > bytes.length) throw conversionError(`${what}: truncated`);
      const at = pos;
      pos += n;
      return at;
    };
    const u8 = () => bytes.readUInt8(need(1));
    const u32 = () => bytes.readUInt32LE(need(4));
    const str = () => {
      const n = bytes.readUInt16LE(need(2));
      if (n === 0) throw conversionError(`${what}: empty string`);
      const at = need(n);
      return bytes.toString('utf8', at, at + n - 1);
    };
    const version = u32();
    if (version < 2 || version > 6)
      throw conversionError(`${what}: binary version ${version} is not supported (2 to 6)`);
    const spec = str();
    const revision = u32();
    const count = u32();
    if (count > MAX_CT2_VARIABLES) throw conversionError(`${what}: ${count} variables exceed the limit`);
    const variables = new Map<string, Variable>();
    for (let i = 0; i < count; i++) {
      const name = str();
      const rank = u8();
      const shape: number[] = [];
      for (let d = 0; d < rank; d++) shape.push(u32());
      let dtypeId: number;
      let byteLength: number;
      if (version >= 4) {
        dtypeId = u8();
        byteLength = u32();
      } else {
        const itemSize = u8();
        dtypeId = itemSize === 4 ? 0 : itemSize === 2 ? 2 : itemSize === 1 ? 1 : -1;
        byteLength = u32() * itemSize;
      }
      const dtype = CT2_DTYPES[dtypeId];
      const width = CT2_WIDTH[dtypeId];
      if (dtype === undefined || width === undefined)
        throw conversionError(`${what}: ${name} has an unknown dtype`);
      if (byteLength !== numel(shape) * width)
        throw conversionError(`${what}: ${name} has an invalid payload size`);
      const begin = need(byteLength);
      variables.set(name, { dtype, shape, begin, end: begin + byteLength });
    }
    const aliases = new Map<string, string>();
    if (version >= 3) {
      const n = u32();
      if (n > MAX_CT2_VARIABLES) throw conversionError(`${what}: ${n} aliases exceed the limit`);
      for (let i = 0; i < n; i++) {
        const alias = str();
        aliases.set(alias, str());
      }
    }
    return new CTranslate2File(spec, revision, version, variables, aliases, bytes);
  }

  names(): string[] {
    return [...this.variables.keys(), ...this.aliases.keys()];
  }

  /** dtype and shape of a variable (an alias resolved). */
  info(name: string): { dtype: string; shape: number[] } | undefined {
    const v = this.variables.get(this.aliases.get(name) ?? name);
    return v && { dtype: v.dtype, shape: [...v.shape] };
  }

  get(name: string): SourceTensor {
    const target = this.aliases.get(name) ?? name;
    const v = this.variables.get(target);
    if (!v) throw conversionError(`CTranslate2 model lacks variable ${name}`);
    const raw = this.bytes.subarray(v.begin, v.end);
    const n = numel(v.shape);
    const data = new Float32Array(n);
    switch (v.dtype) {
      case 'float32':
        for (let i = 0; i < n; i++) data[i] = raw.readFloatLE(i * 4);
        break;
      case 'float16':
        for (let i = 0; i < n; i++) data[i] = halfToFloat(raw.readUInt16LE(i * 2));
        break;
      case 'bfloat16':
        for (let i = 0; i < n; i++) data[i] = bf16ToFloat(raw.readUInt16LE(i * 2));
        break;
      case 'int8': {
        const scale = this.variables.has(`${target}_scale`) ? this.get(`${target}_scale`).data : undefined;
        const rows = v.shape[0] ?? 1;
        if (!scale || scale.length !== rows)
          throw conversionError(`int8 variable ${name} has no per-row scale`);
        const cols = n / rows;
        for (let i = 0; i < n; i++) data[i] = raw.readInt8(i) / (scale[Math.floor(i / cols)] as number);
        break;
      }
      default:
        throw conversionError(`CTranslate2 variable ${name} has dtype ${v.dtype}; not a weight type`);
    }
    return { data, shape: [...v.shape] };
  }
}

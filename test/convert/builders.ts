/** Builders of small model files (GGUF, safetensors, CTranslate2) for the converter tests. */

export type Kv = [string, 'u32' | 'f32' | 'bool' | 'str' | 'strs' | 'i32s', unknown];

/** A GGUF v3 file from metadata and (name, GGUF dims, type, raw bytes) tensors. */
export function gguf(kvs: Kv[], tensors: Array<[string, number[], number, Buffer]>, alignment = 32): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    parts.push(b);
  };
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    parts.push(b);
  };
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    u64(b.length);
    parts.push(b);
  };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(tensors.length);
  u64(kvs.length);
  for (const [key, type, value] of kvs) {
    str(key);
    if (type === 'u32') {
      u32(4);
      u32(value as number);
    } else if (type === 'f32') {
      u32(6);
      const b = Buffer.alloc(4);
      b.writeFloatLE(value as number);
      parts.push(b);
    } else if (type === 'bool') {
      u32(7);
      parts.push(Buffer.from([value ? 1 : 0]));
    } else if (type === 'str') {
      u32(8);
      str(value as string);
    } else if (type === 'strs') {
      u32(9);
      u32(8);
      u64((value as string[]).length);
      for (const s of value as string[]) str(s);
    } else {
      u32(9);
      u32(5);
      u64((value as number[]).length);
      for (const n of value as number[]) {
        const b = Buffer.alloc(4);
        b.writeInt32LE(n);
        parts.push(b);
      }
    }
  }
  let offset = 0;
  const data: Buffer[] = [];
  for (const [name, dims, type, bytes] of tensors) {
    str(name);
    u32(dims.length);
    for (const d of dims) u64(d);
    u32(type);
    u64(offset);
    const padded = Math.ceil(bytes.length / alignment) * alignment;
    data.push(Buffer.concat([bytes, Buffer.alloc(padded - bytes.length)]));
    offset += padded;
  }
  const head = Buffer.concat(parts);
  const pad = Buffer.alloc(Math.ceil(head.length / alignment) * alignment - head.length);
  return Buffer.concat([head, pad, ...data]);
}

/** A safetensors file from (name, dtype, shape, raw bytes) entries. */
export function safetensors(entries: Array<[string, string, number[], Buffer]>): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, dtype, shape, bytes] of entries) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...entries.map((e) => e[3])]);
}

/** A CTranslate2 model.bin (binary version 6) from (name, shape, dtype id, raw bytes) and aliases. */
export function ct2(
  variables: Array<[string, number[], number, Buffer]>,
  aliases: Array<[string, string]> = [],
): Buffer {
  const parts: Buffer[] = [];
  const u8 = (v: number) => parts.push(Buffer.from([v]));
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    parts.push(b);
  };
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(2);
    n.writeUInt16LE(b.length + 1);
    parts.push(n, b, Buffer.from([0]));
  };
  u32(6);
  str('WhisperSpec');
  u32(3);
  u32(variables.length);
  for (const [name, shape, dtype, bytes] of variables) {
    str(name);
    u8(shape.length);
    for (const d of shape) u32(d);
    u8(dtype);
    u32(bytes.length);
    parts.push(bytes);
  }
  u32(aliases.length);
  for (const [a, b] of aliases) {
    str(a);
    str(b);
  }
  return Buffer.concat(parts);
}

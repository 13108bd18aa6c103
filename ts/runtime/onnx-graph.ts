/**
 * A minimal ONNX model writer: enough protobuf to describe a small graph of standard operators
 * (named float/int64 inputs of any rank, nodes with int attributes) and serialise it to the bytes
 * `InferenceSession.create` accepts. Used for the helper graphs that move tensors held on a
 * device (row gathers, padding, joins) without bringing them to host memory.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** ONNX element types used here (TensorProto.DataType). */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

/** A graph input or output: a tensor of an element type whose rank is left open. */
export interface GraphValue {
  name: string;
  elemType: number;
}

/** One node: an operator of the default domain with int or int-list attributes. */
export interface GraphNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, number | number[]>;
}

export interface GraphSpec {
  name: string;
  opset: number;
  inputs: GraphValue[];
  outputs: GraphValue[];
  nodes: GraphNode[];
}

/** Protobuf wire writer (varints and length-delimited fields only). */
class Writer {
  readonly #parts: number[] = [];

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.#parts.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.#parts.push(Number(x));
    return this;
  }

  /** A varint field (wire type 0). */
  int(field: number, v: number | bigint): this {
    return this.varint(field << 3).varint(v);
  }

  /** A length-delimited field (wire type 2). */
  bytes(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2).varint(data.length);
    for (const b of data) this.#parts.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

function valueInfo(v: GraphValue): Writer {
  // TypeProto.tensor_type (1) { elem_type (1) } with no shape: any rank.
  const tensor = new Writer().int(1, v.elemType);
  const type = new Writer().message(1, tensor);
  return new Writer().string(1, v.name).message(2, type);
}

function attribute(name: string, value: number | number[]): Writer {
  const w = new Writer().string(1, name);
  if (Array.isArray(value)) {
    for (const i of value) w.int(8, i);
    return w.int(20, 7); // AttributeType.INTS
  }
  return w.int(3, value).int(20, 2); // AttributeType.INT
}

function node(n: GraphNode, index: number): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${index}`).string(4, n.op);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, attribute(k, v));
  return w;
}

/** Serialises a graph as an ONNX ModelProto (IR version 8). */
export function onnxModel(spec: GraphSpec): Uint8Array {
  const graph = new Writer();
  spec.nodes.forEach((n, i) => {
    graph.message(1, node(n, i));
  });
  graph.string(2, spec.name);
  for (const v of spec.inputs) graph.message(11, valueInfo(v));
  for (const v of spec.outputs) graph.message(12, valueInfo(v));
  const opset = new Writer().string(1, '').int(2, spec.opset);
  return new Writer().int(1, 8).string(2, 'hf-tasks').message(7, graph).message(8, opset).finish();
}

/** Reads a file at byte positions through a small window (the weights are skipped, never read). */
class FileScanner {
  readonly #fd: number;
  readonly size: number;
  #buf = Buffer.alloc(0);
  #at = 0;

  constructor(fd: number, size: number) {
    this.#fd = fd;
    this.size = size;
  }

  byte(pos: number): number {
    if (pos < this.#at || pos >= this.#at + this.#buf.length) {
      if (pos >= this.size) throw new Error('truncated ONNX file');
      const n = Math.min(65536, this.size - pos);
      const buf = Buffer.alloc(n);
      readSync(this.#fd, buf, 0, n, pos);
      this.#buf = buf;
      this.#at = pos;
    }
    return this.#buf[pos - this.#at] as number;
  }

  /** A varint at `pos`: its value and the position after it. */
  varint(pos: number): [number, number] {
    let v = 0;
    let scale = 1;
    for (let p = pos; p < pos + 10; p++) {
      const b = this.byte(p);
      v += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return [v, p + 1];
    }
    throw new Error('bad varint in ONNX file');
  }

  text(pos: number, len: number): string {
    const buf = Buffer.alloc(len);
    readSync(this.#fd, buf, 0, len, pos);
    return buf.toString('utf8');
  }

  /** Calls `field` for each field of the message in [from, to); length-delimited ones get their range. */
  fields(from: number, to: number, field: (num: number, start: number, end: number) => void): void {
    let pos = from;
    while (pos < to) {
      const [tag, afterTag] = this.varint(pos);
      const num = Math.floor(tag / 8);
      switch (tag & 7) {
        case 0:
          pos = this.varint(afterTag)[1];
          break;
        case 1:
          pos = afterTag + 8;
          break;
        case 5:
          pos = afterTag + 4;
          break;
        case 2: {
          const [len, start] = this.varint(afterTag);
          field(num, start, start + len);
          pos = start + len;
          break;
        }
        default:
          throw new Error(`unsupported protobuf wire type ${tag & 7} in ONNX file`);
      }
    }
    if (pos !== to) throw new Error('malformed ONNX file');
  }
}

/**
 * The graph output names of an ONNX file, read from its protobuf without loading it (weights
 * and nodes are skipped by their lengths).
 */
export function onnxOutputNames(file: string): string[] {
  const fd = openSync(file, 'r');
  try {
    const s = new FileScanner(fd, fstatSync(fd).size);
    const names: string[] = [];
    s.fields(0, s.size, (num, start, end) => {
      if (num !== 7) return; // ModelProto.graph
      s.fields(start, end, (g, gs, ge) => {
        if (g !== 12) return; // GraphProto.output
        s.fields(gs, ge, (v, vs, ve) => {
          if (v === 1) names.push(s.text(vs, ve - vs)); // ValueInfoProto.name
        });
      });
    });
    return names;
  } finally {
    closeSync(fd);
  }
}

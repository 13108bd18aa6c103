/**
 * Tensors that stay on the GPU between runs, and the operations that move them there.
 *
 * onnxruntime-node 1.23 keeps a session's outputs on the device when the session is opened with
 * `preferredOutputLocation: 'gpu-buffer'` (per output name); such a tensor can be fed back to a
 * session of the same device as an input without a copy. This holds for the WebGPU execution
 * provider only: the binding binds 'gpu-buffer' outputs to the WebGPU allocator. A device tensor
 * has no download in that binding (`getData()` aborts the process), so what has to come to host
 * memory is copied by a helper graph whose output is a CPU tensor, and row gathers, column cuts
 * and joins run as helper graphs on the device. A device tensor is freed by `dispose()`; the
 * buffers are not garbage-collected, so every one is counted until then.
 */
import * as ort from 'onnxruntime-node';
import { ModelError } from '../errors.js';
import { type GraphNode, ONNX_FLOAT, ONNX_INT64, onnxModel } from './onnx-graph.js';

/** Device tensors alive in this thread (created and not yet disposed). */
const live = new Set<DeviceTensor>();

/** A float32 tensor held on the device; it never crosses threads. */
export class DeviceTensor {
  readonly location = 'device' as const;
  readonly type = 'float32' as const;
  readonly dims: readonly number[];
  #tensor: ort.Tensor | null;

  constructor(tensor: ort.Tensor) {
    if (tensor.location !== 'gpu-buffer') throw new ModelError('ERR_INTERNAL', 'not a device tensor');
    this.#tensor = tensor;
    this.dims = [...tensor.dims];
    live.add(this);
  }

  /** The onnxruntime tensor, to feed a session. */
  get tensor(): ort.Tensor {
    if (this.#tensor === null) throw new ModelError('ERR_INTERNAL', 'a device tensor was used after dispose');
    return this.#tensor;
  }

  get disposed(): boolean {
    return this.#tensor === null;
  }

  /** Frees the device buffer (again: nothing). */
  dispose(): void {
    const t = this.#tensor;
    if (t === null) return;
    this.#tensor = null;
    live.delete(this);
    t.dispose();
  }
}

export function isDeviceTensor(v: unknown): v is DeviceTensor {
  return v instanceof DeviceTensor;
}

/** How many device tensors of this thread are alive. */
export function liveDeviceTensors(): number {
  return live.size;
}

/** Frees every device tensor of this thread (before its sessions are released at exit). */
export function disposeLiveDeviceTensors(): void {
  for (const t of [...live]) t.dispose();
}

type Providers = NonNullable<ort.InferenceSession.SessionOptions['executionProviders']>;

function int64(values: readonly number[]): ort.Tensor {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    [values.length],
  );
}

/**
 * `take` over n tensors: y_i = Slice(Gather(x_i, idx, axis 0), starts, ends, axes): the rows
 * `idx` in that order, the columns [start, end) of one axis.
 */
function takeGraph(n: number): Uint8Array {
  const nodes: GraphNode[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({ op: 'Gather', inputs: [`x${i}`, 'idx'], outputs: [`g${i}`], attributes: { axis: 0 } });
    nodes.push({ op: 'Slice', inputs: [`g${i}`, 'starts', 'ends', 'axes'], outputs: [`y${i}`] });
  }
  return onnxModel({
    name: `take${n}`,
    opset: 18,
    inputs: [
      ...Array.from({ length: n }, (_, i) => ({ name: `x${i}`, elemType: ONNX_FLOAT })),
      ...['idx', 'starts', 'ends', 'axes'].map((name) => ({ name, elemType: ONNX_INT64 })),
    ],
    outputs: Array.from({ length: n }, (_, i) => ({ name: `y${i}`, elemType: ONNX_FLOAT })),
    nodes,
  });
}

/** `join` over n pairs: y_i = Concat(Pad(a_i, pa), Pad(b_i, pb), axis 0) (zero padding). */
function joinGraph(n: number): Uint8Array {
  const nodes: GraphNode[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({ op: 'Pad', inputs: [`a${i}`, 'pa'], outputs: [`pa${i}`] });
    nodes.push({ op: 'Pad', inputs: [`b${i}`, 'pb'], outputs: [`pb${i}`] });
    nodes.push({ op: 'Concat', inputs: [`pa${i}`, `pb${i}`], outputs: [`y${i}`], attributes: { axis: 0 } });
  }
  return onnxModel({
    name: `join${n}`,
    opset: 18,
    inputs: [
      ...Array.from({ length: n }, (_, i) => ({ name: `a${i}`, elemType: ONNX_FLOAT })),
      ...Array.from({ length: n }, (_, i) => ({ name: `b${i}`, elemType: ONNX_FLOAT })),
      { name: 'pa', elemType: ONNX_INT64 },
      { name: 'pb', elemType: ONNX_INT64 },
    ],
    outputs: Array.from({ length: n }, (_, i) => ({ name: `y${i}`, elemType: ONNX_FLOAT })),
    nodes,
  });
}

/** Counters of the helper graphs (for tests and diagnostics). */
export interface DeviceOpsStats {
  /** Helper runs that kept their outputs on the device (gathers, cuts, joins). */
  deviceRuns: number;
  /** Tensors brought to host memory. */
  downloads: number;
}

/**
 * Row gathers, column cuts, joins and downloads of device tensors, as small helper graphs on
 * the same execution providers as the sessions that made the tensors. One session per graph
 * kind and tensor count, opened when first needed.
 */
export class DeviceOps {
  readonly #providers: Providers;
  readonly #sessions = new Map<string, Promise<ort.InferenceSession>>();
  readonly #track: (s: ort.InferenceSession) => void;
  readonly #untrack: (s: ort.InferenceSession) => void;
  #released = false;
  readonly stats: DeviceOpsStats = { deviceRuns: 0, downloads: 0 };

  constructor(
    providers: Providers,
    track: (s: ort.InferenceSession) => void = () => undefined,
    untrack: (s: ort.InferenceSession) => void = () => undefined,
  ) {
    this.#providers = providers;
    this.#track = track;
    this.#untrack = untrack;
  }

  #session(kind: 'take' | 'join', n: number, onDevice: boolean): Promise<ort.InferenceSession> {
    if (this.#released) return Promise.reject(new ModelError('ERR_DISPOSED', 'the device has been released'));
    const key = `${kind}/${n}/${onDevice ? 'device' : 'host'}`;
    let s = this.#sessions.get(key);
    if (s === undefined) {
      const options: ort.InferenceSession.SessionOptions = {
        executionProviders: this.#providers,
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        logSeverityLevel: 3,
        ...(onDevice && { preferredOutputLocation: 'gpu-buffer' }),
      };
      s = ort.InferenceSession.create(kind === 'take' ? takeGraph(n) : joinGraph(n), options).then(
        (session) => {
          this.#track(session);
          return session;
        },
      );
      // A failed open is not kept: the next call tries again.
      s.catch(() => this.#sessions.delete(key));
      this.#sessions.set(key, s);
    }
    return s;
  }

  async #run(
    kind: 'take' | 'join',
    n: number,
    onDevice: boolean,
    feeds: Record<string, ort.Tensor>,
  ): Promise<ort.Tensor[]> {
    const session = await this.#session(kind, n, onDevice);
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await session.run(feeds);
    } catch (cause) {
      throw new ModelError('ERR_MODEL_RUN', `a device ${kind} failed: ${(cause as Error).message}`, {
        cause,
      });
    }
    return Array.from({ length: n }, (_, i) => out[`y${i}`] as ort.Tensor);
  }

  /** Wraps helper outputs as device tensors; frees them all if one is not on the device. */
  static #wrap(outs: ort.Tensor[]): DeviceTensor[] {
    if (outs.some((t) => t?.location !== 'gpu-buffer')) {
      for (const t of outs) if (t?.location === 'gpu-buffer') t.dispose();
      throw new ModelError('ERR_MODEL_RUN', 'a device helper returned its output in host memory');
    }
    return outs.map((t) => new DeviceTensor(t));
  }

  /**
   * Rows `rows` (in that order) of each tensor, cut to the columns [from, to) of axis
   * rank - 2 (the sequence axis of [rows, heads, length, dim] and [rows, length, hidden]).
   * The inputs are left as they are.
   */
  async take(
    xs: readonly DeviceTensor[],
    rows: readonly number[],
    from: number,
    to: number,
  ): Promise<DeviceTensor[]> {
    const first = xs[0];
    if (first === undefined) return [];
    const feeds: Record<string, ort.Tensor> = {
      idx: int64(rows),
      starts: int64([from]),
      ends: int64([to]),
      axes: int64([first.dims.length - 2]),
    };
    xs.forEach((x, i) => {
      feeds[`x${i}`] = x.tensor;
    });
    const outs = await this.#run('take', xs.length, true, feeds);
    this.stats.deviceRuns++;
    return DeviceOps.#wrap(outs);
  }

  /**
   * Each a_i stacked over b_i along the rows, after zero padding of the sequence axis (rank - 2):
   * `[before, after]` columns for the a's and for the b's. The inputs are left as they are.
   */
  async join(
    as: readonly DeviceTensor[],
    bs: readonly DeviceTensor[],
    padA: readonly [number, number],
    padB: readonly [number, number],
  ): Promise<DeviceTensor[]> {
    const first = as[0];
    if (first === undefined) return [];
    if (bs.length !== as.length)
      throw new ModelError('ERR_INTERNAL', 'a device join needs as many tensors on each side');
    const rank = first.dims.length;
    const pads = (p: readonly [number, number]) => {
      const v = new Array<number>(2 * rank).fill(0);
      v[rank - 2] = p[0];
      v[2 * rank - 2] = p[1];
      return int64(v);
    };
    const feeds: Record<string, ort.Tensor> = { pa: pads(padA), pb: pads(padB) };
    as.forEach((a, i) => {
      feeds[`a${i}`] = a.tensor;
      feeds[`b${i}`] = (bs[i] as DeviceTensor).tensor;
    });
    const outs = await this.#run('join', as.length, true, feeds);
    this.stats.deviceRuns++;
    return DeviceOps.#wrap(outs);
  }

  /** Copies device tensors to host memory (the tensors stay). */
  async download(xs: readonly DeviceTensor[]): Promise<Float32Array[]> {
    const first = xs[0];
    if (first === undefined) return [];
    const groups = new Map<string, number[]>();
    xs.forEach((x, i) => {
      // One helper run per row count: all tensors of a run share the row index.
      const key = String(x.dims[0]);
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    const out = new Array<Float32Array>(xs.length);
    for (const members of groups.values()) {
      const rows = (xs[members[0] as number] as DeviceTensor).dims[0] as number;
      const feeds: Record<string, ort.Tensor> = {
        idx: int64(Array.from({ length: rows }, (_, i) => i)),
        starts: int64([0]),
        ends: int64([Number.MAX_SAFE_INTEGER]),
        axes: int64([0]),
      };
      members.forEach((m, k) => {
        feeds[`x${k}`] = (xs[m] as DeviceTensor).tensor;
      });
      const outs = await this.#run('take', members.length, false, feeds);
      members.forEach((m, k) => {
        const t = outs[k];
        if (t === undefined || t.location === 'gpu-buffer' || t.type !== 'float32') {
          throw new ModelError('ERR_MODEL_RUN', 'a device download returned no host tensor');
        }
        out[m] = t.data as Float32Array;
      });
      this.stats.downloads += members.length;
    }
    return out;
  }

  /** Releases the helper sessions. */
  async release(): Promise<void> {
    this.#released = true;
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const p of sessions) {
      const s = await p.catch(() => null);
      if (s === null) continue;
      this.#untrack(s);
      await s.release().catch(() => undefined);
    }
  }
}

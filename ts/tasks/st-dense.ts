/**
 * sentence-transformers' Dense module: `activation(W x + b)` on the pooled sentence vector, read
 * from the module's folder (`config.json`: in_features, out_features, bias, activation_function;
 * `model.safetensors`: linear.weight `[out, in]`, linear.bias `[out]`).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SafetensorsFile } from '../convert/safetensors.js';
import { ModelError } from '../errors.js';

const f32 = Math.fround;

/** erf, well below float32 resolution: its Maclaurin series under 2.5, erfc's continued fraction above. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    const v = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -v : v;
  }
  let frac = 0;
  for (let n = 60; n >= 1; n--) frac = n / 2 / (ax + frac);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + frac);
  return x < 0 ? erfc - 1 : 1 - erfc;
}

/** torch activation classes by the name sentence-transformers writes (`fullname(module)`). */
const ACTIVATIONS: Record<string, (x: number) => number> = {
  'torch.nn.modules.linear.Identity': (x) => x,
  'torch.nn.modules.activation.Tanh': (x) => Math.tanh(x),
  'torch.nn.modules.activation.ReLU': (x) => Math.max(x, 0),
  'torch.nn.modules.activation.Sigmoid': (x) => 1 / (1 + Math.exp(-x)),
  'torch.nn.modules.activation.GELU': (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  'torch.nn.modules.activation.SiLU': (x) => x / (1 + Math.exp(-x)),
};

export interface DenseLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Row-major `[out, in]`. */
  readonly weight: Float32Array;
  readonly bias: Float32Array | null;
  readonly activation: (x: number) => number;
}

function bad(where: string, message: string): ModelError {
  return new ModelError('ERR_MODEL_LOAD', `${where}: ${message}`);
}

/** Reads the Dense module in `dir/modulePath`. */
export function loadDenseLayer(dir: string, modulePath: string): DenseLayer {
  const folder = path.join(dir, modulePath);
  const where = `sentence-transformers Dense module ${folder}`;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(path.join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw bad(where, `cannot read config.json (${(err as Error).message})`);
  }
  const inFeatures = config.in_features;
  const outFeatures = config.out_features;
  if (
    typeof inFeatures !== 'number' ||
    typeof outFeatures !== 'number' ||
    !Number.isInteger(inFeatures) ||
    !Number.isInteger(outFeatures) ||
    inFeatures < 1 ||
    outFeatures < 1 ||
    inFeatures * outFeatures > 1 << 26
  ) {
    throw bad(where, 'in_features and out_features must be positive integers');
  }
  const name = typeof config.activation_function === 'string' ? config.activation_function : '';
  const activation = ACTIVATIONS[name];
  if (activation === undefined) {
    throw bad(
      where,
      `activation_function ${JSON.stringify(config.activation_function)} is not one of ${Object.keys(ACTIVATIONS).join(', ')}`,
    );
  }
  const weightsFile = path.join(folder, 'model.safetensors');
  if (!existsSync(weightsFile)) {
    const legacy = existsSync(path.join(folder, 'pytorch_model.bin'));
    throw bad(
      where,
      legacy
        ? 'its weights are in pytorch_model.bin (a pickle); only model.safetensors is read'
        : 'no model.safetensors',
    );
  }
  let weights: SafetensorsFile;
  try {
    weights = SafetensorsFile.parse(readFileSync(weightsFile), weightsFile);
  } catch (err) {
    throw bad(where, (err as Error).message);
  }
  const w = weights.get('linear.weight');
  if (w.shape.length !== 2 || w.shape[0] !== outFeatures || w.shape[1] !== inFeatures) {
    throw bad(where, `linear.weight is [${w.shape}], expected [${outFeatures}, ${inFeatures}]`);
  }
  let bias: Float32Array | null = null;
  if (config.bias !== false) {
    const b = weights.get('linear.bias');
    if (b.shape.length !== 1 || b.shape[0] !== outFeatures) {
      throw bad(where, `linear.bias is [${b.shape}], expected [${outFeatures}]`);
    }
    bias = b.data;
  }
  return { inFeatures, outFeatures, weight: w.data, bias, activation };
}

/** `rows` vectors of `layer.inFeatures` through the layer, in float32. */
export function applyDense(x: Float32Array, rows: number, layer: DenseLayer): Float32Array {
  const { inFeatures: n, outFeatures: m, weight, bias, activation } = layer;
  if (x.length !== rows * n) {
    throw new ModelError(
      'ERR_MODEL_RUN',
      `the Dense module takes vectors of ${n} values; the pooled vectors have ${x.length / Math.max(rows, 1)}`,
    );
  }
  const out = new Float32Array(rows * m);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < m; o++) {
      let acc = bias === null ? 0 : (bias[o] as number);
      for (let i = 0; i < n; i++) acc += (weight[o * n + i] as number) * (x[r * n + i] as number);
      out[r * m + o] = f32(activation(f32(acc)));
    }
  }
  return out;
}

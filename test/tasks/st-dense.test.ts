/** sentence-transformers' Dense module: its activations, and clear errors for bad module folders. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ModelError } from '../../ts/errors.js';
import { applyDense, loadDenseLayer } from '../../ts/tasks/st-dense.js';

/** A safetensors file of float32 tensors. */
function safetensors(tensors: Record<string, { shape: number[]; data: number[] }>): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) for (const v of t.data) at = out.writeFloatLE(v, at);
  return out;
}

/** A Dense module folder with an n x n identity weight, zero bias and `activation`. */
function identityModule(n: number, activation: string, config: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-dense-'));
  mkdirSync(path.join(dir, '2_Dense'));
  const eye = Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
  writeFileSync(
    path.join(dir, '2_Dense', 'config.json'),
    JSON.stringify({
      in_features: n,
      out_features: n,
      bias: true,
      activation_function: activation,
      ...config,
    }),
  );
  writeFileSync(
    path.join(dir, '2_Dense', 'model.safetensors'),
    safetensors({
      'linear.weight': { shape: [n, n], data: eye },
      'linear.bias': { shape: [n], data: new Array(n).fill(0) },
    }),
  );
  return dir;
}

test('activations as torch computes them (identity weights)', (t) => {
  const x = Float32Array.from([-3, -1.5, -0.5, 0, 0.5, 1, 2, 3]);
  const want: Record<string, (v: number) => number> = {
    'torch.nn.modules.linear.Identity': (v) => v,
    'torch.nn.modules.activation.Tanh': Math.tanh,
    'torch.nn.modules.activation.ReLU': (v) => Math.max(v, 0),
    'torch.nn.modules.activation.Sigmoid': (v) => 1 / (1 + Math.exp(-v)),
    'torch.nn.modules.activation.SiLU': (v) => v / (1 + Math.exp(-v)),
  };
  // GELU(x) = x/2 (1 + erf(x / sqrt 2)), with erf from Python's math.erf.
  const erf: Record<string, number> = {
    '-3': -0.9973002039367398,
    '-1.5': -0.8663855974622838,
    '-0.5': -0.3829249225480262,
    '0': 0,
    '0.5': 0.3829249225480262,
    '1': 0.6826894921370859,
    '2': 0.9544997361036416,
    '3': 0.9973002039367398,
  };
  want['torch.nn.modules.activation.GELU'] = (v) => 0.5 * v * (1 + (erf[String(v)] as number));
  for (const [name, f] of Object.entries(want)) {
    const layer = loadDenseLayer(identityModule(x.length, name), '2_Dense');
    const got = applyDense(x, 1, layer);
    for (let i = 0; i < x.length; i++) {
      t.true(Math.abs((got[i] as number) - f(x[i] as number)) < 1e-6, `${name}(${x[i]}) = ${got[i]}`);
    }
  }
});

test('bad Dense modules fail at load with the reason', (t) => {
  const cases: [string, RegExp][] = [];
  const unknown = identityModule(2, 'torch.nn.modules.activation.Softplus');
  cases.push([unknown, /activation_function "torch.nn.modules.activation.Softplus" is not one of/]);
  const shape = identityModule(2, 'torch.nn.modules.activation.Tanh', { out_features: 3 });
  cases.push([shape, /linear.weight is \[2,2\], expected \[3, 2\]/]);
  const pickle = identityModule(2, 'torch.nn.modules.activation.Tanh');
  writeFileSync(path.join(pickle, '2_Dense', 'model.safetensors'), Buffer.alloc(0));
  cases.push([pickle, /too short for a safetensors file/]);
  const legacy = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-dense-'));
  mkdirSync(path.join(legacy, '2_Dense'));
  writeFileSync(
    path.join(legacy, '2_Dense', 'config.json'),
    JSON.stringify({
      in_features: 2,
      out_features: 2,
      activation_function: 'torch.nn.modules.activation.Tanh',
    }),
  );
  writeFileSync(path.join(legacy, '2_Dense', 'pytorch_model.bin'), 'PK');
  cases.push([legacy, /pytorch_model.bin \(a pickle\); only model.safetensors is read/]);
  const noConfig = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-dense-'));
  cases.push([noConfig, /cannot read config.json/]);
  for (const [dir, pattern] of cases) {
    const err = t.throws(() => loadDenseLayer(dir, '2_Dense'), { instanceOf: ModelError });
    t.is(err?.code, 'ERR_MODEL_LOAD');
    t.regex(err?.message ?? '', pattern);
  }
  const layer = loadDenseLayer(identityModule(2, 'torch.nn.modules.activation.Tanh'), '2_Dense');
  t.throws(() => applyDense(new Float32Array(3), 1, layer), { message: /takes vectors of 2 values/ });
});

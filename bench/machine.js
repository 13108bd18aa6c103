/**
 * The machine a benchmark ran on: CPU model, cores, clock, SIMD width and the fp32 peak it
 * implies, load, and the runtime versions.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function cpuinfo() {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

function field(text, name) {
  const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text);
  return m ? m[1].trim() : null;
}

/**
 * fp32 FLOP per cycle per core from the SIMD flags: vector lanes x 2 (fused multiply-add) x 2
 * FMA units. Two FMA units per core is an assumption (true of server Xeon and EPYC cores).
 */
export function flopsPerCycle(flags) {
  const has = (f) => flags.includes(f);
  if (has('avx512f')) return { simd: 'avx512', lanes: 16, fmaUnits: 2, perCycle: 16 * 2 * 2 };
  if (has('avx2') && has('fma')) return { simd: 'avx2+fma', lanes: 8, fmaUnits: 2, perCycle: 8 * 2 * 2 };
  if (has('avx')) return { simd: 'avx', lanes: 8, fmaUnits: 1, perCycle: 8 * 2 };
  return { simd: 'sse', lanes: 4, fmaUnits: 1, perCycle: 4 * 2 };
}

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Installed version of a package (nested under `parent`'s node_modules when given). */
function versionOf(pkg, parent) {
  const base = parent ? path.join(ROOT, 'node_modules', parent) : ROOT;
  try {
    return JSON.parse(readFileSync(path.join(base, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/** The NVIDIA GPUs `nvidia-smi` reports (name and memory), or null without one. */
function nvidiaGpus() {
  try {
    const out = execFileSync(
      'nvidia-smi',
      ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 10_000,
      },
    ).trim();
    return out === ''
      ? null
      : out
          .split('\n')
          .map((l) => l.trim())
          .join('; ');
  } catch {
    return null;
  }
}

export function machine() {
  const info = cpuinfo();
  const flags = (field(info, 'flags') ?? '').split(/\s+/);
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const mhz = Number(field(info, 'cpu MHz') ?? os.cpus()[0]?.speed ?? 0);
  const simd = flopsPerCycle(flags);
  const peakGflops = (cores * mhz * simd.perCycle) / 1000;
  return {
    cpu: field(info, 'model name') ?? os.cpus()[0]?.model ?? 'unknown',
    cores,
    mhz,
    simd,
    peakGflops,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    gpu: nvidiaGpus(),
    versions: {
      'onnxruntime-node': versionOf('onnxruntime-node'),
      '@huggingface/transformers': versionOf('@huggingface/transformers'),
      'onnxruntime-node (transformers.js)': versionOf('onnxruntime-node', '@huggingface/transformers'),
      benchmark: versionOf('benchmark'),
    },
  };
}

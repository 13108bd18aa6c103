/**
 * Key/value caches kept on the device between decoding steps (`deviceCache`, on by default on
 * WebGPU). On this machine WebGPU runs on Mesa's lavapipe when it is installed: a child process
 * probes for an adapter when this file loads, and without one the device checks are skipped
 * with the probe's reason. The device work runs in child processes (device-cache-child.ts), so
 * that a driver crash cannot take the test process down.
 *
 * With an adapter: the same concurrent greedy and beam requests (rows joining mid-decoding and
 * leaving at different steps) give the CPU's token ids on a decoder-only model and on two
 * encoder-decoders (merged and split decoder graphs), with the cache on the device at every
 * decoding step; no device tensor is left after requests finish, are aborted, fail in a decoder
 * run or a device gather, or when the engine is disposed under running requests.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import * as ort from 'onnxruntime-node';
import { createGenerator, type DeviceCacheStats } from '../../ts/generation/engine.js';
import { onnxOutputNames } from '../../ts/runtime/onnx-graph.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const CHILD = path.join(here, 'device-cache-child.ts');
const models = path.join(root, 'test', 'fixtures', 'models');

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  json: Record<string, unknown> | null;
  stderr: string;
}

function parse(stdout: string): Record<string, unknown> | null {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  return line === undefined ? null : (JSON.parse(line) as Record<string, unknown>);
}

/** Runs the child in `mode` (without blocking this process) and parses the JSON line it prints. */
function runChild(mode: string): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code, signal) => resolve({ code, signal, json: parse(stdout), stderr }));
  });
}

// Decided when the file loads, so that the checks that need an adapter are skipped, not failed.
const probeRun = spawnSync(process.execPath, ['--import', 'tsx', CHILD, 'probe'], {
  cwd: root,
  encoding: 'utf8',
  timeout: 120_000,
});
const probe = parse(probeRun.stdout ?? '');
const adapter = probe?.ok === true;
const reason = adapter
  ? ''
  : String(
      probe?.reason ??
        `the probe process ended with code ${probeRun.status} signal ${probeRun.signal}: ${(probeRun.stderr ?? '').slice(-400)}`,
    );
if (!adapter) console.log(`device-cache: no WebGPU adapter here, the device checks are skipped: ${reason}`);
const gpuTest = adapter ? test : test.skip;

test('the adapter probe says what it found', (t) => {
  t.log(adapter ? 'a WebGPU adapter is available' : `no WebGPU adapter: ${reason}`);
  t.is(probeRun.status, 0, probeRun.stderr);
  t.not(probe, null);
  if (adapter) t.is(probe?.device, 'webgpu');
  else t.regex(reason, /no WebGPU adapter is available/);
});

test('the cache output names are read from the ONNX files as onnxruntime reads them', async (t) => {
  for (const file of [
    'gpt2-tiny/model.onnx',
    't5-tiny/decoder_model_merged.onnx',
    't5-tiny/encoder_model.onnx',
    'bart-tiny/decoder_model.onnx',
    'bart-tiny/decoder_with_past_model.onnx',
    'llama-tiny-merged/onnx/decoder_model_merged.onnx',
    'whisper-tiny-random/decoder_model_merged.onnx',
    'whisper-tiny-random/encoder_model.onnx',
  ]) {
    const full = path.join(models, file);
    const session = await ort.InferenceSession.create(full);
    t.deepEqual(onnxOutputNames(full), [...session.outputNames], file);
    await session.release();
  }
});

test('on the CPU the caches stay host arrays, and deviceCache is checked', async (t) => {
  const file = path.join(models, 'gpt2-tiny', 'model.onnx');
  const g = await createGenerator(file, { inline: true });
  t.teardown(() => g.dispose());
  await g.generate({
    promptIds: [40, 288, 349],
    decoding: { eosTokenIds: [0] },
    rows: 1,
    maxNewTokens: 4,
    eosTokenIds: [0],
    padTokenId: 0,
    stream: false,
  });
  const stats = (await g.deviceCacheStats?.()) as DeviceCacheStats;
  t.is(stats.deviceCache, false);
  t.is(stats.device, 'cpu');
  t.is(stats.deviceSteps, 0);
  t.is(stats.deviceFedRuns, 0);
  t.is(stats.liveDeviceTensors, 0);
  const err = await t.throwsAsync(createGenerator(file, { inline: true, deviceCache: 'yes' as never }));
  t.is((err as { code?: string }).code, 'ERR_INVALID_ARGUMENT');
  t.regex(err?.message ?? '', /deviceCache must be true or false/);
});

// --- with an adapter ----------------------------------------------------------------------------

interface Sequence {
  ids: number[];
  logprobs: number[];
  score?: number;
}

interface ModelRun {
  requests: number;
  cpu: Sequence[][];
  device: Sequence[][];
  host: Sequence[][];
  joined: boolean;
  mode: string;
  cpuStats: DeviceCacheStats;
  deviceStats: DeviceCacheStats;
  hostStats: DeviceCacheStats;
}

const equalRun = adapter ? runChild('equal') : null;

function closeTo(t: ExecutionContext, a: number[], b: number[], tol: number, what: string): void {
  t.is(a.length, b.length, what);
  const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);
  t.true(worst <= tol, `${what}: differs by ${worst}`);
}

for (const [model, kind] of [
  ['gpt2-tiny', 'decoder-only'],
  ['t5-tiny', 'encoder-decoder, merged decoder'],
  ['bart-tiny', 'encoder-decoder, split decoder'],
  ['whisper-tiny-random', 'speech encoder-decoder, cache outputs a prefix of the outputs'],
] as const) {
  gpuTest(
    `${model} (${kind}): greedy and beam results on webgpu with the device cache equal the CPU's token for token`,
    async (t) => {
      t.timeout(180_000);
      const r = (await equalRun) as ChildResult;
      t.is(r.signal, null, r.stderr);
      t.is(r.code, 0, r.stderr);
      const run = r.json?.[model] as ModelRun;
      t.truthy(run, r.stderr);
      // The second wave was submitted while the first decoded (rows joined running batches).
      t.true(run.joined);
      t.is(run.cpu.length, run.requests);
      t.true(
        run.cpu.some((seqs) => seqs.length === 2),
        'beam requests return two sequences',
      );
      t.deepEqual(
        run.device.map((seqs) => seqs.map((s) => s.ids)),
        run.cpu.map((seqs) => seqs.map((s) => s.ids)),
      );
      t.deepEqual(
        run.host.map((seqs) => seqs.map((s) => s.ids)),
        run.cpu.map((seqs) => seqs.map((s) => s.ids)),
      );
      run.cpu.forEach((seqs, i) => {
        seqs.forEach((s, k) => {
          const d = run.device[i]?.[k] as Sequence;
          closeTo(t, d.logprobs, s.logprobs, 1e-4, `request ${i} sequence ${k} logprobs`);
          if (s.score !== undefined) closeTo(t, [d.score as number], [s.score], 1e-4, `request ${i} score`);
        });
      });
      // On the device: every decoding step (each request has one prompt pass) was fed the
      // previous step's caches as device tensors; rows joined, left and were reordered there;
      // nothing came to host memory, and nothing is left.
      const d = run.deviceStats;
      t.is(run.mode, 'worker');
      t.is(d.device, 'webgpu');
      t.true(d.deviceCache);
      t.true(d.deviceSteps > 0);
      t.is(d.deviceSteps, d.steps - run.requests);
      t.true(d.deviceFedRuns >= d.deviceSteps);
      t.true(d.deviceMoves > 0);
      t.is(d.downloads, 0);
      t.is(d.liveDeviceTensors, 0);
      // deviceCache: false on webgpu, and the CPU: host caches.
      for (const s of [run.hostStats, run.cpuStats]) {
        t.false(s.deviceCache);
        t.is(s.deviceSteps, 0);
        t.is(s.deviceFedRuns, 0);
        t.is(s.liveDeviceTensors, 0);
      }
      t.is(run.hostStats.device, 'webgpu');
      t.is(run.cpuStats.device, 'cpu');
      t.is(r.json?.live, 0);
      t.is(r.json?.openSessions, 0);
    },
  );
}

interface Settled {
  ok?: { sequences: Sequence[] };
  error?: string;
}

gpuTest('no device tensor is left after finished, aborted, failed and disposed requests', async (t) => {
  t.timeout(180_000);
  const r = await runChild('lifecycle');
  t.is(r.signal, null, r.stderr);
  t.is(r.code, 0, r.stderr);
  const out = r.json as Record<string, Record<string, unknown>>;
  t.truthy(out, r.stderr);

  const finished = out.finished as unknown as DeviceCacheStats & { live: number; peak: number };
  t.true(finished.deviceCache);
  t.true(finished.deviceSteps > 0);
  t.true(finished.peak > 0, 'caches were alive on the device while decoding');
  t.is(finished.liveDeviceTensors, 0);
  t.is(finished.live, 0);

  const aborted = out.aborted as { aborted: Settled; beside: Settled; live: number };
  t.regex(aborted.aborted.error ?? '', /^ERR_ABORTED/);
  t.is(aborted.beside.ok?.sequences.length, 2);
  t.is(aborted.live, 0);

  const disposed = out.disposed as { results: Settled[]; live: number; openSessions: number };
  for (const s of disposed.results) t.regex(s.error ?? '', /^ERR_DISPOSED/);
  t.is(disposed.live, 0);
  t.is(disposed.openSessions, 0);

  for (const [key, message] of [
    ['runFailure', /injected decoder failure/],
    ['takeFailure', /injected device gather failure/],
  ] as const) {
    const f = out[key] as { results: Settled[]; stats: { deviceSteps: number }; live: number };
    t.is(f.results.length, 2);
    for (const s of f.results) t.regex(s.error ?? '', message, key);
    // It failed mid-generation, after steps fed from the device.
    t.true(f.stats.deviceSteps > 0, key);
    t.is(f.live, 0, key);
  }
  const after = out.after as { result: Settled; stats: { deviceSteps: number }; live: number };
  t.is(after.result.ok?.sequences[0]?.ids.length, 5);
  t.true(after.stats.deviceSteps > 0);
  t.is(after.live, 0);

  // A plain run on a session that keeps its caches on the device: host tensors back.
  const plain = out.plainRun as { outputs: boolean; hostData: boolean; downloads: number; live: number };
  t.true(plain.outputs);
  t.true(plain.hostData);
  t.is(plain.downloads, 4);
  t.is(plain.live, 0);

  const cpu = out.cpu as unknown as DeviceCacheStats;
  t.false(cpu.deviceCache);
  t.is(cpu.deviceFedRuns, 0);
  t.is(out.openSessions as unknown as number, 0);
});

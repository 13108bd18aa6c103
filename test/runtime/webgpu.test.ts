/**
 * `device: 'webgpu'`: onnxruntime-node's WebGPU execution provider (Dawn, on Linux over Vulkan).
 * Without a GPU it runs on Mesa >= 25's lavapipe, a CPU Vulkan driver (`.ci/run` installs it
 * from bookworm-backports when it can). The golden, CLI and server checks need an adapter: a
 * child process probes for one when this file loads, and without one they are skipped with the
 * probe's reason. The no-adapter checks run everywhere (an adapter is hidden from a child by
 * pointing the Vulkan loader at a driver file that does not exist).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { type EngineRunner, engineRunnerFactory, type PipelineOptions, pipeline } from '../../ts/index.js';
import { createSessionRunner, openSessionCount } from '../../ts/runtime/session.js';
import { createServer, resolveConfig } from '../../ts/server/index.js';
import type { TaskId } from '../../ts/types/tasks.js';
import { assertGolden, type GoldenCase, loadGoldens, modelDir, PipeCache } from '../tasks/goldens.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const CHILD = path.join(here, 'webgpu-child.ts');
const CLI = path.join(root, 'ts', 'cli.ts');
const TEXT = 'I love this movie, it was absolutely wonderful!';

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  json: Record<string, unknown> | null;
  stderr: string;
}

/** Runs webgpu-child.ts in `mode` and parses the JSON line it prints. */
function runChild(mode: string, env: Record<string, string> = {}): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, mode], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 180_000,
  });
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  return {
    code: r.status,
    signal: r.signal,
    json: line === undefined ? null : (JSON.parse(line) as Record<string, unknown>),
    stderr: r.stderr,
  };
}

// Decided when the file loads, so that the tests that need an adapter are skipped, not failed.
const probe = runChild('probe');
const adapter = probe.json?.ok === true;
const reason = adapter
  ? ''
  : String(
      probe.json?.reason ??
        `the probe process ended with code ${probe.code} signal ${probe.signal}: ${probe.stderr.slice(-400)}`,
    );
if (!adapter) console.log(`webgpu: no WebGPU adapter here, the tests that need one are skipped: ${reason}`);
const gpuTest = adapter ? test : test.skip;

/** A variable that makes the Vulkan loader find no driver (both names, whichever the loader reads). */
const NO_DRIVER = { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };

test('the adapter probe says what it found', (t) => {
  t.log(adapter ? 'a WebGPU adapter is available' : `no WebGPU adapter: ${reason}`);
  t.is(probe.code, 0, probe.stderr);
  t.is(probe.signal, null);
  t.not(probe.json, null);
  if (adapter) t.is(probe.json?.device, 'webgpu');
  else t.regex(reason, /no WebGPU adapter is available/);
});

test("no adapter: device 'webgpu' gives DeviceUnavailableError saying what is missing; deviceFallback runs on the CPU", async (t) => {
  const r = runChild('no-adapter', NO_DRIVER);
  t.is(r.code, 0, r.stderr);
  t.is(r.signal, null);
  const out = r.json as {
    error?: { name: string; code: string; message: string };
    inlineError?: string;
    fallback: { device: string; mode: number; output: Array<{ label: string; score: number }> };
    openSessions: number;
  };
  t.is(out.error?.name, 'DeviceUnavailableError');
  t.is(out.error?.code, 'ERR_DEVICE_UNAVAILABLE');
  const message = out.error?.message ?? '';
  t.regex(message, /^device 'webgpu' asked for, but no WebGPU adapter is available \(.*adapter.*\)/);
  t.regex(message, /Vulkan loader \(package libvulkan1\)/);
  t.regex(message, /GPU driver's Vulkan component/);
  t.regex(message, /Mesa >= 25 lavapipe/);
  // What this machine lacks: the loader, or (with the loader) a driver file that exists.
  t.regex(
    message,
    /here (the Vulkan loader libvulkan\.so\.1 is not|VK_(DRIVER_FILES|ICD_FILENAMES) names no driver)/,
  );
  t.regex(message, /deviceFallback/);
  t.is(out.inlineError, 'DeviceUnavailableError');
  // The fallback: a CPU runner (one worker, as asked for a GPU device), same answer as the CPU.
  t.is(out.fallback.device, 'cpu');
  t.is(out.fallback.mode, 1);
  const cpu = await pipeline('text-classification', modelDir('bert-sentiment'), { workers: 0 });
  t.teardown(() => cpu.dispose());
  assertGolden(t, out.fallback.output, await cpu(TEXT), 1e-5);
  t.is(out.openSessions, 0);
});

test('the device is checked: an unknown one is refused before any file is read', async (t) => {
  const err = await t.throwsAsync(
    createSessionRunner(path.join(modelDir('bert-sentiment'), 'model.onnx'), { device: 'gpu' as never }),
  );
  t.is((err as { code?: string }).code, 'ERR_INVALID_ARGUMENT');
  t.regex(err?.message ?? '', /device must be one of 'cpu', 'webgpu', 'cuda' \(got gpu\)/);
});

test('the server reports a webgpu device as a GPU in x-compute-type', async (t) => {
  const config = resolveConfig({
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    device: 'webgpu',
    models: [{ id: 'test/echo', path: modelDir('bert-sentiment'), tasks: ['text-classification'] }],
  });
  const echo = Object.assign(async () => [{ label: 'ok', score: 1 }], {
    task: 'text-classification',
    model: 'test/echo',
    dispose: async () => undefined,
  });
  const server = await createServer(config, { loader: async () => echo as never });
  t.teardown(() => server.close());
  await server.preload();
  const res = await server.app.inject({
    method: 'POST',
    url: '/models/test/echo',
    payload: { inputs: 'hi' },
  });
  t.is(res.statusCode, 200, res.body);
  t.is(res.headers['x-compute-type'], 'gpu');
});

// --- with an adapter ----------------------------------------------------------------------------

/** Pipes on `device: 'webgpu'` through the default engine, keeping the runners they open. */
function webgpuPipes<T extends TaskId>(task: T): { pipes: PipeCache<T>; runners: EngineRunner[] } {
  const runners: EngineRunner[] = [];
  const factory = engineRunnerFactory();
  const options: PipelineOptions = {
    device: 'webgpu',
    createRunner: async (onnxPath, runnerOptions) => {
      const r = await factory(onnxPath, runnerOptions);
      runners.push(r);
      return r;
    },
  };
  return { pipes: new PipeCache(task, options), runners };
}

const goldenTasks = ['text-classification', 'token-classification', 'feature-extraction'] as const;
const opened: Array<PipeCache<TaskId>> = [];
test.after.always(async () => {
  for (const p of opened) await p.dispose();
});

for (const task of goldenTasks) {
  const { pipes, runners } = webgpuPipes(task);
  opened.push(pipes as unknown as PipeCache<TaskId>);
  const cases = loadGoldens(task).cases.filter((c: GoldenCase) => c.error === undefined);
  gpuTest(
    `${task}: ${cases.length} goldens on webgpu within 1e-4, on a webgpu runner with one worker`,
    async (t: ExecutionContext) => {
      t.timeout(10 * 60_000);
      for (const c of cases) {
        const pipe = (await pipes.get(c.model)) as unknown as (i: unknown, p?: unknown) => Promise<unknown>;
        const d = await pipe(c.inputs, c.parameters);
        assertGolden(t, d, c.output, 1e-4);
        if (t.passed === false) {
          t.log(`first failing case: ${c.id}`);
          break;
        }
      }
      t.true(runners.length > 0);
      for (const r of runners) {
        t.is(r.device, 'webgpu');
        t.is(r.mode, 1);
      }
    },
  );
}

// fp16 files run in half precision on the GPU: the reference ran the same file on the CPU
// (float32 arithmetic between the casts), so scores agree to fp16 rounding, not to 1e-4 (on
// lavapipe the scores of these random-weight fixtures differ by up to 7.5e-3).
const FP16_TOLERANCE = 2e-2;
gpuTest(
  `dtype fp16 on webgpu: the fp16 goldens with the same labels, words and offsets, scores within ${FP16_TOLERANCE}`,
  async (t: ExecutionContext) => {
    t.timeout(5 * 60_000);
    const cases = loadGoldens('fp16').cases as Array<GoldenCase & { task: TaskId }>;
    const pipes = new Map<string, (i: unknown, p?: unknown) => Promise<unknown>>();
    const runners: EngineRunner[] = [];
    const factory = engineRunnerFactory();
    try {
      for (const c of cases) {
        let pipe = pipes.get(c.model);
        if (pipe === undefined) {
          pipe = (await pipeline(c.task, modelDir(c.model), {
            device: 'webgpu',
            dtype: 'fp16',
            createRunner: async (onnxPath, runnerOptions) => {
              const r = await factory(onnxPath, runnerOptions);
              runners.push(r);
              return r;
            },
          })) as unknown as (i: unknown, p?: unknown) => Promise<unknown>;
          pipes.set(c.model, pipe);
        }
        assertGolden(t, await pipe(c.inputs, c.parameters), c.output, FP16_TOLERANCE);
        if (!t.passed) {
          t.log(`first failing case: ${c.id}`);
          break;
        }
      }
      t.true(runners.length === 2 && runners.every((r) => r.device === 'webgpu'));
    } finally {
      for (const p of pipes.values()) await (p as unknown as { dispose(): Promise<void> }).dispose();
    }
  },
);

gpuTest('an inline webgpu session is counted while open and released by dispose', async (t) => {
  const before = openSessionCount();
  const runner = await createSessionRunner(path.join(modelDir('bert-sentiment'), 'model.onnx'), {
    device: 'webgpu',
  });
  t.is(runner.device, 'webgpu');
  t.is(openSessionCount(), before + 1);
  await runner.dispose();
  t.is(openSessionCount(), before);
  const err = await t.throwsAsync(runner.run({}));
  t.is((err as { code?: string }).code, 'ERR_DISPOSED');
});

gpuTest('a process that exits with webgpu sessions still open (pooled and inline) exits cleanly', (t) => {
  const r = runChild('exit-open');
  t.is(r.signal, null, r.stderr);
  t.is(r.code, 0, r.stderr);
  const out = r.json as { device: string; pooled: unknown; direct: unknown; openSessions: number };
  t.is(out.device, 'webgpu');
  t.is(out.openSessions, 1);
  assertGolden(t, out.direct, out.pooled, 1e-5);
});

interface Spawned {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  stdout: () => string;
}

function spawnCli(args: string[]): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, stdout: () => stdout };
}

gpuTest('hf-tasks run --device webgpu prints the golden answer and exits 0', async (t) => {
  const golden = loadGoldens('token-classification').cases.find((c) => c.id === 'bert-ner/sarah/default');
  t.truthy(golden);
  const { done } = spawnCli([
    'run',
    'token-classification',
    modelDir('bert-ner'),
    JSON.stringify({ inputs: golden?.inputs, parameters: golden?.parameters ?? {} }),
    '--device',
    'webgpu',
  ]);
  const r = await done;
  t.is(r.signal, null, r.stderr);
  t.is(r.code, 0, r.stderr);
  assertGolden(t, JSON.parse(r.stdout), golden?.output, 1e-4);
});

gpuTest('hf-tasks serve --device webgpu answers as a GPU and shuts down cleanly on SIGTERM', async (t) => {
  const golden = loadGoldens('text-classification').cases.find(
    (c) => c.id === 'bert-sentiment/positive/default',
  );
  t.truthy(golden);
  const { child, done, stdout } = spawnCli([
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--device',
    'webgpu',
    '--model',
    `test/sentiment=${modelDir('bert-sentiment')}:text-classification`,
  ]);
  try {
    let url = '';
    while (url === '') {
      if (child.exitCode !== null) throw new Error(`serve exited early: ${stdout()}`);
      const m = /"url":"(http:[^"]+)"/.exec(stdout());
      if (m?.[1]) url = m[1];
      else await new Promise((r) => setTimeout(r, 20));
    }
    const res = await fetch(`${url}/models/test/sentiment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: golden?.inputs,
        parameters: golden?.parameters ?? {},
        options: { wait_for_model: true },
      }),
    });
    t.is(res.status, 200);
    t.is(res.headers.get('x-compute-type'), 'gpu');
    // The Inference API wraps a single text's labels in a list.
    assertGolden(t, ((await res.json()) as unknown[])[0], golden?.output, 1e-4);
    child.kill('SIGTERM');
    const exit = await done;
    t.is(exit.signal, null, exit.stderr);
    t.is(exit.code, 0, exit.stderr);
    t.regex(exit.stdout, /shut down cleanly/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

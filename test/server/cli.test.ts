/**
 * The CLI as a child process: `serve` (env and flags, real requests, graceful shutdown on
 * SIGTERM with a request in flight), `run`, `models list`, `bench` and `--help`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { assertGolden, loadGoldens } from '../tasks/goldens.js';
import { fixtureModel, get, post, root } from './helpers.js';

const CLI = path.join(root, 'ts', 'cli.ts');
const NER_FLAG = `test/bert-ner=${fixtureModel('bert-ner')}:token-classification`;

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function spawnCli(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: root,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
  else child.stdin.end();
  const done = new Promise<Done>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, output: () => stdout };
}

/** Waits for the server's "listening" log line and returns its URL. */
async function listeningUrl(output: () => string, child: ChildProcess): Promise<string> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited early with ${child.exitCode}: ${output()}`);
    for (const line of output().split('\n')) {
      if (!line.startsWith('{')) continue;
      const rec = JSON.parse(line) as { url?: string };
      if (rec.url) return rec.url;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function healthy(url: string): Promise<void> {
  for (;;) {
    if ((await get(`${url}/health`)).status === 200) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('serve: HOST/PORT from the environment, --model flags, SIGTERM drains in-flight requests and exits 0', async (t) => {
  const { child, done, output } = spawnCli(['serve', '--model', NER_FLAG, '--no-preload'], {
    env: { HOST: '127.0.0.1', PORT: '0' },
  });
  try {
    const url = await listeningUrl(output, child);
    t.regex(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const golden = loadGoldens('token-classification').cases.find((c) => c.id === 'bert-ner/sarah/default');
    // The first request waits for the model to load, so it is still in flight when SIGTERM
    // arrives (the server has logged it): it must still get its answer.
    const inflight = post(`${url}/models/test/bert-ner`, {
      inputs: golden?.inputs,
      options: { wait_for_model: true },
    });
    while (!/"incoming request"/.test(output())) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGTERM');
    const answered = await inflight;
    t.is(answered.status, 200);
    assertGolden(t, answered.body, golden?.output);
    const exit = await done;
    t.is(exit.code, 0, exit.stderr);
    t.regex(exit.stdout, /draining in-flight requests/);
    t.regex(exit.stdout, /shut down cleanly/);
    await t.throwsAsync(() => get(`${url}/health`));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('serve: SIGINT also shuts down cleanly; a config file chooses the models; inline engine flags', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-cli-'));
  const cfg = path.join(dir, 'server.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      host: '127.0.0.1',
      port: 0,
      logLevel: 'info',
      models: [{ id: 'cfg/sentiment', path: fixtureModel('bert-sentiment'), task: 'text-classification' }],
    }),
  );
  const { child, done, output } = spawnCli(['serve', '--config', cfg, '--workers', '0', '--no-batching']);
  try {
    const url = await listeningUrl(output, child);
    await healthy(url);
    const res = await post(`${url}/models/cfg/sentiment`, 'I love it', { 'content-type': 'text/plain' });
    t.is(res.status, 200);
    t.true(Array.isArray((res.body as unknown[])[0]));
    t.is((await post(`${url}/models/test/bert-ner`, { inputs: 'x' })).status, 404);
    child.kill('SIGINT');
    t.is((await done).code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('serve: bad flags fail with a message and exit 1', async (t) => {
  const port = await spawnCli(['serve', '--port', 'eighty']).done;
  t.is(port.code, 1);
  t.regex(port.stderr, /--port must be a port number/);
  const model = await spawnCli(['serve', '--model', '../../etc/passwd']).done;
  t.is(model.code, 1);
  t.regex(model.stderr, /model id/);
});

test('--device: cpu, webgpu or cuda; without a WebGPU adapter run --device webgpu fails with the reason and exits 1', async (t) => {
  const bad = await spawnCli(['serve', '--device', 'gpu']).done;
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--device.*Allowed choices are cpu, webgpu, cuda/);
  // The Vulkan loader pointed at a driver file that does not exist: no adapter.
  const noDriver = { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };
  const run = await spawnCli(
    ['run', 'text-classification', fixtureModel('bert-sentiment'), 'hi', '--device', 'webgpu'],
    {
      env: noDriver,
    },
  ).done;
  t.is(run.signal, null, run.stderr);
  t.is(run.code, 1);
  t.is(run.stdout, '');
  t.regex(
    run.stderr,
    /hf-tasks: device 'webgpu' asked for, but no WebGPU adapter is available .*libvulkan1.*\[ERR_DEVICE_UNAVAILABLE\]/,
  );
});

test('run prints the pipeline result as JSON (argument or stdin)', async (t) => {
  const golden = loadGoldens('token-classification').cases.find((c) => c.id === 'bert-ner/sarah/default');
  const text = String(golden?.inputs);
  const arg = await spawnCli(['run', 'token-classification', fixtureModel('bert-ner'), text]).done;
  t.is(arg.code, 0, arg.stderr);
  assertGolden(t, JSON.parse(arg.stdout), golden?.output);
  const stdin = await spawnCli(['run', 'ner', fixtureModel('bert-ner'), '-'], {
    stdin: JSON.stringify({ inputs: text }),
  }).done;
  t.is(stdin.code, 0, stdin.stderr);
  t.deepEqual(JSON.parse(stdin.stdout), JSON.parse(arg.stdout));
  const params = await spawnCli([
    'run',
    'text-classification',
    fixtureModel('bert-sentiment'),
    'I love it',
    '--parameters',
    '{"top_k": 1}',
  ]).done;
  t.is(params.code, 0, params.stderr);
  t.is((JSON.parse(params.stdout) as unknown[]).length, 1);
  const bad = await spawnCli(['run', 'token-classification', fixtureModel('bert-ner'), '{"inputs": 5}']).done;
  t.is(bad.code, 1);
  t.regex(bad.stderr, /hf-tasks: .*ERR_/);
});

test('models list shows cached models and the defaults', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-cache-'));
  mkdirSync(path.join(dir, 'models--acme--tiny', 'refs'), { recursive: true });
  mkdirSync(path.join(dir, 'models--acme--tiny', 'blobs'), { recursive: true });
  writeFileSync(path.join(dir, 'models--acme--tiny', 'refs', 'main'), 'a'.repeat(40));
  writeFileSync(path.join(dir, 'models--acme--tiny', 'blobs', 'x'), Buffer.alloc(2048));
  const res = await spawnCli(['models', 'list', '--cache-dir', dir, '--json']).done;
  t.is(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout) as {
    cacheDir: string;
    models: Array<{ id: string; revisions: string[]; default: boolean }>;
  };
  t.is(out.cacheDir, dir);
  t.deepEqual(
    out.models.find((m) => m.id === 'acme/tiny'),
    { id: 'acme/tiny', revisions: ['main'], sizeMB: 0, default: false },
  );
  const minilm = out.models.find((m) => m.id === 'sentence-transformers/all-MiniLM-L6-v2');
  t.deepEqual(minilm?.revisions, []);
  t.true(minilm?.default);
  const text = await spawnCli(['models', 'list', '--cache-dir', dir]).done;
  t.regex(text.stdout, /acme\/tiny: cached \(main\)/);
  t.regex(text.stdout, /all-MiniLM-L6-v2 \[default\]: not cached/);
});

test('models fetch puts a default model in the cache (or finds it there) and says where', async (t) => {
  t.timeout(10 * 60_000);
  const res = await spawnCli(['models', 'fetch', 'sentence-transformers/all-MiniLM-L6-v2']).done;
  t.is(res.code, 0, res.stderr);
  t.regex(
    res.stdout,
    /^sentence-transformers\/all-MiniLM-L6-v2: (cache|mirror|hub) \S+snapshots\/[0-9a-f]{40} \(feature-extraction, onnx\/model\.onnx\)$/m,
  );
  const bad = await spawnCli(['models', 'fetch', '../etc']).done;
  t.is(bad.code, 1);
  t.regex(bad.stderr, /ERR_INVALID_MODEL_ID/);
});

test('bench reports throughput and latency percentiles', async (t) => {
  const res = await spawnCli([
    'bench',
    'token-classification',
    fixtureModel('bert-ner'),
    '-n',
    '5',
    '-w',
    '1',
  ]).done;
  t.is(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout) as Record<string, number>;
  t.is(out.iterations, 5);
  t.true((out.throughput_per_s ?? 0) > 0);
  t.true((out.p99_ms ?? -1) >= (out.p50_ms ?? 0));
});

test('--help for every command', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--help'], /Usage: hf-tasks/],
    [['serve', '--help'], /--model <ID\[=PATH\]\[:TASK\]>/],
    [['run', '--help'], /<task> <model> <input>/],
    [['models', '--help'], /fetch/],
    [['models', 'fetch', '--help'], /\[ids\.\.\.\]/],
    [['models', 'list', '--help'], /--cache-dir/],
    [['bench', '--help'], /--iterations/],
  ];
  await Promise.all(
    cases.map(async ([args, re]) => {
      const res = await spawnCli(args).done;
      t.is(res.code, 0, args.join(' '));
      t.regex(res.stdout, re, args.join(' '));
    }),
  );
});

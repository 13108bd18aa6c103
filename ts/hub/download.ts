/**
 * Fetching one file of a hub repository into the cache: a HEAD request on
 * `{endpoint}/{repo}/resolve/{revision}/{path}` for the commit (`X-Repo-Commit`) and the blob
 * name (`X-Linked-Etag` or `ETag`), then — unless the blob is already cached — a GET to the
 * file (or the CDN the hub redirects to) into `blobs/<etag>.incomplete` under a lock, a size
 * and checksum check, a rename to `blobs/<etag>` and the snapshot symlink.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DownloadError, GatedModelError, ModelNotFoundError } from '../errors.js';
import type { RepoCache } from './cache.js';
import { displayUrl, request, transferToFile } from './http.js';
import { withLock } from './lock.js';
import { COMMIT_HASH } from './model-id.js';
import type { ProgressOption } from './progress.js';

export interface HubClientOptions {
  endpoint: string;
  token: string | undefined;
  progress: ProgressOption;
}

export interface FileMetadata {
  commit: string;
  etag: string;
  /** True when the etag came from `X-Linked-Etag` (an LFS file: the etag is its sha256). */
  lfs: boolean;
  size: number | undefined;
  /** Where to GET the bytes: the resolve URL, or the CDN URL the hub redirected to. */
  location: string;
}

/** The file is absent at this revision; `commit` when the hub said which commit it looked at. */
export interface MissingFile {
  missing: true;
  commit: string | undefined;
}

/** Safe as a file name: no separators, and no leading dot (so never `.` or `..`). */
const ETAG_CHARS = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Strips the weak marker and quotes of an ETag header value. */
export function normalizeEtag(raw: string | null): string | undefined {
  if (raw === null) return undefined;
  const etag = raw
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
  return ETAG_CHARS.test(etag) ? etag : undefined;
}

function encodePath(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

export function resolveUrl(endpoint: string, modelId: string, revision: string, file: string): string {
  return `${endpoint}/${modelId}/resolve/${encodeURIComponent(revision)}/${encodePath(file)}`;
}

function hasFileHeaders(res: Response): boolean {
  return res.headers.has('x-repo-commit') && (res.headers.has('x-linked-etag') || res.headers.has('etag'));
}

/**
 * Asks the hub about one file. Returns its metadata, or `{ missing }` for a file the repository
 * does not have (404 `EntryNotFound`). Throws `ModelNotFoundError` for an unknown repository or
 * revision, `GatedModelError` for 401/403, `DownloadError` for anything else.
 */
export async function fetchFileMetadata(
  client: HubClientOptions,
  modelId: string,
  revision: string,
  file: string,
): Promise<FileMetadata | MissingFile> {
  const url = resolveUrl(client.endpoint, modelId, revision, file);
  const authOrigin = new URL(client.endpoint).origin;
  const { res, url: finalUrl } = await request(url, {
    method: 'HEAD',
    token: client.token,
    authOrigin,
    // The hub answers LFS files with a redirect to its CDN that carries the metadata.
    stopAtRedirect: hasFileHeaders,
  });
  await res.body?.cancel();
  const errorCode = res.headers.get('x-error-code') ?? '';
  const commitHeader = res.headers.get('x-repo-commit')?.trim();
  const commit = commitHeader && COMMIT_HASH.test(commitHeader) ? commitHeader : undefined;
  const where = `${modelId} (revision ${revision})`;
  if (errorCode === 'GatedRepo' || res.status === 401 || res.status === 403) {
    if (errorCode === 'RepoNotFound') {
      throw new ModelNotFoundError(`model ${modelId} was not found on ${client.endpoint}`);
    }
    const hint = client.token
      ? 'the token (HF_TOKEN) has no access to it'
      : 'set HF_TOKEN to a token with access';
    throw new GatedModelError(
      `model ${where} on ${client.endpoint} requires authorization (HTTP ${res.status}) for ${file}: ${hint}`,
    );
  }
  if (res.status === 404 || errorCode) {
    if (errorCode === 'RepoNotFound') {
      throw new ModelNotFoundError(`model ${modelId} was not found on ${client.endpoint}`);
    }
    if (errorCode === 'RevisionNotFound') {
      throw new ModelNotFoundError(
        `revision ${revision} of model ${modelId} was not found on ${client.endpoint}`,
      );
    }
    if (res.status === 404) return { missing: true, commit };
  }
  if (res.status >= 400) {
    throw new DownloadError(`HEAD ${displayUrl(url)} answered HTTP ${res.status}`);
  }
  if (!commit) {
    throw new DownloadError(
      `${displayUrl(finalUrl)} sent no valid X-Repo-Commit header: ${client.endpoint} does not look like a Hugging Face hub`,
    );
  }
  const linked = normalizeEtag(res.headers.get('x-linked-etag'));
  const etag = linked ?? normalizeEtag(res.headers.get('etag'));
  if (!etag) throw new DownloadError(`${displayUrl(finalUrl)} sent no usable ETag for ${where} ${file}`);
  const sizeHeader =
    res.headers.get('x-linked-size') ?? (res.status === 200 ? res.headers.get('content-length') : null);
  const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
  const location =
    res.status >= 300 ? new URL(res.headers.get('location') ?? '', finalUrl).toString() : finalUrl;
  return { commit, etag, lfs: linked !== undefined, size, location };
}

async function hashFile(file: string, algorithm: string, prefix?: Buffer): Promise<string> {
  const hash = createHash(algorithm);
  if (prefix) hash.update(prefix);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Checks a finished download against its etag when the etag is a content hash: the sha256 of
 * an LFS file, or the git blob sha1 of a regular file. Other etags cannot be checked.
 */
async function verifyEtag(file: string, meta: FileMetadata, size: number): Promise<void> {
  let actual: string | undefined;
  if (meta.lfs && /^[0-9a-f]{64}$/.test(meta.etag)) {
    actual = await hashFile(file, 'sha256');
  } else if (!meta.lfs && COMMIT_HASH.test(meta.etag)) {
    actual = await hashFile(file, 'sha1', Buffer.from(`blob ${size}\0`));
  }
  if (actual !== undefined && actual !== meta.etag) {
    throw new DownloadError(`checksum mismatch: expected ${meta.etag}, got ${actual}`);
  }
}

/**
 * Makes `blobs/<etag>` present: nothing to do when it already is; otherwise downloads it under
 * the blob's lock (a second process waits, then finds the blob), resuming `<etag>.incomplete`.
 */
export async function ensureBlob(
  client: HubClientOptions,
  cache: RepoCache,
  meta: FileMetadata,
  file: string,
): Promise<void> {
  if (await cache.hasBlob(meta.etag)) return;
  await withLock(cache.lockPath(meta.etag), async (signal) => {
    if (await cache.hasBlob(meta.etag)) return;
    const partial = cache.incompletePath(meta.etag);
    await fs.mkdir(path.dirname(partial), { recursive: true });
    const label = `${cache.modelId}/${file}`;
    const size = await transferToFile(meta.location, partial, {
      token: client.token,
      authOrigin: new URL(client.endpoint).origin,
      size: meta.size,
      progress: client.progress,
      label,
      signal,
    });
    try {
      await verifyEtag(partial, meta, size);
    } catch (err) {
      await fs.rm(partial, { force: true });
      throw new DownloadError(`download of ${label}: ${(err as Error).message}`, { cause: err });
    }
    if (signal.aborted) throw new DownloadError(`lost the download lock for ${label}`);
    await fs.rename(partial, cache.blobPath(meta.etag));
  });
}

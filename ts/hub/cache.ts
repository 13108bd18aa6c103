/**
 * The Hugging Face cache layout, shared with Python's `huggingface_hub`:
 *
 * ```
 * <cache>/models--owner--name/
 *   blobs/<etag>                       file contents, named by the hub's ETag (sha256 for LFS files)
 *   blobs/<etag>.incomplete            a download in progress (resumed with a Range request)
 *   refs/<revision>                    the commit hash the revision pointed to
 *   snapshots/<commit>/<path>          relative symlink to ../../blobs/<etag>
 *   .no_exist/<commit>/<path>          empty marker: the file does not exist at that commit
 * <cache>/.locks/models--owner--name/<etag>.lock
 * ```
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { COMMIT_HASH, repoFolderName } from './model-id.js';

function isErrno(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

/** True when `p` exists and (following symlinks) is a regular file. */
export async function isFile(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isFile();
  } catch {
    return false;
  }
}

/** True when `p` exists and is a directory. */
export async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Writes a file atomically: a temporary file in the same folder, then a rename over the target. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Relative paths (with `/`) of the regular files under `dir`, sorted; empty when `dir` is absent. */
export async function listFiles(dir: string, maxDepth = 8): Promise<string[]> {
  const out: string[] = [];
  async function walk(sub: string, depth: number): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(path.join(dir, sub), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (depth < maxDepth) await walk(rel, depth + 1);
      } else if (entry.isFile() || (entry.isSymbolicLink() && (await isFile(path.join(dir, rel))))) {
        out.push(rel);
      }
    }
  }
  await walk('', 0);
  return out.sort();
}

/** One model repository inside a hub cache folder. */
export class RepoCache {
  /** `<cache>/models--owner--name`. */
  readonly repoDir: string;
  private readonly locksDir: string;

  constructor(
    readonly cacheDir: string,
    readonly modelId: string,
  ) {
    const folder = repoFolderName(modelId);
    this.repoDir = path.join(cacheDir, folder);
    this.locksDir = path.join(cacheDir, '.locks', folder);
  }

  blobPath(etag: string): string {
    return path.join(this.repoDir, 'blobs', etag);
  }

  incompletePath(etag: string): string {
    return `${this.blobPath(etag)}.incomplete`;
  }

  lockPath(etag: string): string {
    return path.join(this.locksDir, `${etag}.lock`);
  }

  snapshotDir(commit: string): string {
    return path.join(this.repoDir, 'snapshots', commit);
  }

  snapshotFile(commit: string, file: string): string {
    return path.join(this.snapshotDir(commit), ...file.split('/'));
  }

  private noExistPath(commit: string, file: string): string {
    return path.join(this.repoDir, '.no_exist', commit, ...file.split('/'));
  }

  /**
   * The commit a revision points to in the cache: the content of `refs/<revision>`, or the
   * revision itself when it is a commit hash with a snapshot folder. Undefined when unknown.
   */
  async readRef(revision: string): Promise<string | undefined> {
    if (COMMIT_HASH.test(revision) && (await isDirectory(this.snapshotDir(revision)))) return revision;
    try {
      const commit = (
        await fs.readFile(path.join(this.repoDir, 'refs', ...revision.split('/')), 'utf8')
      ).trim();
      return COMMIT_HASH.test(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records that `revision` points to `commit` (nothing to record when the revision is the commit). */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const refFile = path.join(this.repoDir, 'refs', ...revision.split('/'));
    try {
      if ((await fs.readFile(refFile, 'utf8')).trim() === commit) return;
    } catch {
      // absent: written below
    }
    await writeFileAtomic(refFile, commit);
  }

  /** True when the snapshot has the file (a symlink to an existing blob, or a plain file). */
  hasFile(commit: string, file: string): Promise<boolean> {
    return isFile(this.snapshotFile(commit, file));
  }

  /** True when a `.no_exist` marker says the file is absent at this commit. */
  isMarkedMissing(commit: string, file: string): Promise<boolean> {
    return isFile(this.noExistPath(commit, file));
  }

  /** Writes the `.no_exist` marker for a file the hub answered 404 for. */
  async markMissing(commit: string, file: string): Promise<void> {
    const marker = this.noExistPath(commit, file);
    await fs.mkdir(path.dirname(marker), { recursive: true });
    await (await fs.open(marker, 'a')).close();
  }

  /** True when the blob for this etag is complete in the cache. */
  hasBlob(etag: string): Promise<boolean> {
    return isFile(this.blobPath(etag));
  }

  /**
   * Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink (created under a
   * temporary name and renamed into place, so readers never see a half-made entry). Where the
   * file system has no symlinks the blob is copied instead, as `huggingface_hub` does.
   */
  async linkBlob(commit: string, file: string, etag: string): Promise<void> {
    const dst = this.snapshotFile(commit, file);
    const blob = this.blobPath(etag);
    await fs.mkdir(path.dirname(dst), { recursive: true });
    const target = path.relative(path.dirname(dst), blob);
    const tmp = `${dst}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      await fs.symlink(target, tmp);
    } catch (err) {
      if (!isErrno(err, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EINVAL')) throw err;
      await fs.copyFile(blob, tmp, fsConstants.COPYFILE_FICLONE);
    }
    try {
      await fs.rename(tmp, dst);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Relative paths of the files in a snapshot. */
  listSnapshot(commit: string): Promise<string[]> {
    return listFiles(this.snapshotDir(commit));
  }
}

/**
 * A cross-process lock around cache writes (one download of a blob, one provisioning of a
 * snapshot). proper-lockfile makes a lock folder and refreshes its mtime while held, so the
 * lock of a process that died goes stale and is taken over.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';

/**
 * Runs `fn` while holding the lock named `lockPath` (the folder `<lockPath>.node`, beside the
 * `<etag>.lock` files Python's `filelock` makes). `fn` gets a signal that fires if the lock is
 * lost (taken over as stale), so it can stop writing.
 */
export async function withLock<T>(lockPath: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  await fs.mkdir(path.dirname(lockPath), { recursive: true });
  const controller = new AbortController();
  const release = await lockfile.lock(lockPath, {
    realpath: false,
    lockfilePath: `${lockPath}.node`,
    stale: 30_000,
    update: 5_000,
    // Wait for another process's download for up to about 3 hours.
    retries: { retries: 50_000, factor: 1, minTimeout: 100, maxTimeout: 250 },
    onCompromised: (err) => controller.abort(err),
  });
  try {
    return await fn(controller.signal);
  } finally {
    await release().catch(() => undefined);
  }
}

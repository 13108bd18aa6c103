/**
 * HTTP plumbing for downloads: redirects followed by hand (so the token is only ever sent to
 * the hub's own origin, never to the CDN it redirects to) and a body-to-file transfer that
 * resumes a partial file with a Range request and retries a connection cut mid-body.
 */
import fs from 'node:fs/promises';
import { DownloadError } from '../errors.js';
import { createProgress, type ProgressOption } from './progress.js';

const MAX_REDIRECTS = 10;
const USER_AGENT = 'hf-tasks/0.1 (node)';

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  /** Sent as `Authorization: Bearer <token>` to `authOrigin` only. */
  token?: string | undefined;
  /** The origin allowed to see the token (the hub endpoint's). */
  authOrigin?: string | undefined;
  headers?: Record<string, string>;
  /**
   * Stop at the first redirect for which this returns true and hand back that 3xx response
   * (the hub's redirect to its CDN carries the file's metadata headers).
   */
  stopAtRedirect?: (res: Response) => boolean;
  signal?: AbortSignal | undefined;
}

export interface HttpResult {
  res: Response;
  /** The URL that produced `res`, after redirects. */
  url: string;
}

function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ? `${cause.message} (${code})` : cause.message;
  }
  return err.message;
}

/** A URL without its query string, for messages (signed CDN URLs carry credentials there). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}

/** Sends a request, following redirects by hand. Network failures become `DownloadError`s. */
export async function request(url: string, options: RequestOptions = {}): Promise<HttpResult> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const target = new URL(current);
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      'accept-encoding': 'identity',
      ...options.headers,
    };
    if (options.token && options.authOrigin && target.origin === options.authOrigin) {
      headers.authorization = `Bearer ${options.token}`;
    }
    let res: Response;
    try {
      res = await fetch(current, {
        method: options.method ?? 'GET',
        headers,
        redirect: 'manual',
        signal: options.signal ?? null,
      });
    } catch (err) {
      throw new DownloadError(`cannot reach ${displayUrl(current)}: ${describeCause(err)}`, { cause: err });
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      if (options.stopAtRedirect?.(res)) return { res, url: current };
      await res.body?.cancel();
      current = new URL(location, current).toString();
      continue;
    }
    return { res, url: current };
  }
  throw new DownloadError(`too many redirects from ${displayUrl(url)}`);
}

export interface TransferOptions {
  token?: string | undefined;
  authOrigin?: string | undefined;
  /** Expected full size; checked when known. */
  size?: number | undefined;
  progress?: ProgressOption;
  /** Label for progress and messages. */
  label: string;
  /** Attempts after a connection cut mid-body, each resuming where the file ends. */
  retries?: number;
  signal?: AbortSignal | undefined;
}

async function fileSize(p: string): Promise<number> {
  try {
    return (await fs.stat(p)).size;
  } catch {
    return 0;
  }
}

/**
 * Downloads `url` into `partial`, appending to what is already there with a Range request
 * (a server that ignores the Range and answers 200 restarts the file). On a connection cut
 * mid-body it retries, resuming each time. Returns the final size. The caller owns `partial`
 * (renames it when done) and must hold a lock on it.
 */
export async function transferToFile(
  url: string,
  partial: string,
  options: TransferOptions,
): Promise<number> {
  const attempts = 1 + (options.retries ?? 3);
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    let start = await fileSize(partial);
    if (options.size !== undefined && start > options.size) {
      await fs.rm(partial, { force: true });
      start = 0;
    }
    if (options.size !== undefined && start === options.size && start > 0) return start;
    const headers: Record<string, string> = start > 0 ? { range: `bytes=${start}-` } : {};
    const { res } = await request(url, {
      token: options.token,
      authOrigin: options.authOrigin,
      headers,
      signal: options.signal,
    });
    if (res.status === 416 && start > 0) {
      // The partial file is at least as long as the resource: start over.
      await res.body?.cancel();
      await fs.rm(partial, { force: true });
      continue;
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      throw new DownloadError(`GET ${displayUrl(url)} answered HTTP ${res.status} for ${options.label}`);
    }
    let append = res.status === 206;
    if (append) {
      const range = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== start) {
        await res.body?.cancel();
        throw new DownloadError(
          `GET ${displayUrl(url)} answered a range that does not start at byte ${start} for ${options.label}`,
        );
      }
    } else {
      start = 0;
      append = false;
    }
    const length = Number(res.headers.get('content-length') ?? Number.NaN);
    const total = options.size ?? (Number.isFinite(length) ? start + length : undefined);
    const progress = createProgress(options.progress, options.label, total, start);
    const handle = await fs.open(partial, append ? 'a' : 'w');
    let loaded = start;
    try {
      if (res.body) {
        for await (const chunk of res.body) {
          await handle.write(chunk);
          loaded += chunk.byteLength;
          progress.update(loaded);
        }
      }
    } catch (err) {
      lastError = err;
      if (options.signal?.aborted)
        throw new DownloadError(`download of ${options.label} aborted`, { cause: err });
      continue;
    } finally {
      await handle.close();
      progress.done();
    }
    if (total !== undefined && loaded !== total) {
      lastError = new Error(`got ${loaded} of ${total} bytes`);
      continue;
    }
    return loaded;
  }
  throw new DownloadError(
    `download of ${options.label} from ${displayUrl(url)} failed after ${attempts} attempts: ${describeCause(lastError)}`,
    { cause: lastError },
  );
}

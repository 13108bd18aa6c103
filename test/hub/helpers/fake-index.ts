/**
 * A loopback package index (PEP 691 JSON or PEP 503 HTML project pages) serving wheels built
 * in memory with yazl, for the package-mirror tests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import yazl from 'yazl';
import { sha256 } from './fake-hub.js';

export interface RecordedIndexRequest {
  method: string;
  path: string;
  accept: string | undefined;
}

/** Builds a zip (a wheel is one) from entry name -> content. */
export function buildWheel(entries: Record<string, Buffer | string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(entries)) {
    zip.addBuffer(typeof content === 'string' ? Buffer.from(content) : content, name);
  }
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

export class FakeIndex {
  readonly requests: RecordedIndexRequest[] = [];
  /** Answer project pages as PEP 503 HTML instead of PEP 691 JSON. */
  html = false;
  /** List files without their sha256 (as some indexes do). */
  omitHashes = false;
  url = '';
  private readonly projects = new Map<string, Map<string, Buffer>>();
  private readonly server = http.createServer((req, res) => this.handle(req, res));

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/simple`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** Publishes a file under a normalised project name; returns its sha256. */
  publish(project: string, filename: string, data: Buffer): string {
    const files = this.projects.get(project) ?? new Map<string, Buffer>();
    files.set(filename, data);
    this.projects.set(project, files);
    return sha256(data);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', accept: req.headers.accept });
    const url = new URL(req.url ?? '/', this.url);
    const page = /^\/simple\/([a-z0-9-]+)\/$/.exec(url.pathname);
    if (page) {
      const files = this.projects.get(page[1] ?? '');
      if (!files) {
        res.writeHead(404).end();
        return;
      }
      const list = [...files].map(([filename, data]) => ({
        filename,
        url: `../../files/${filename}`,
        hashes: this.omitHashes ? {} : { sha256: sha256(data) },
      }));
      if (this.html) {
        const links = list.map((f) => {
          const hash = 'sha256' in f.hashes ? `#sha256=${f.hashes.sha256}` : '';
          return `<a href="${f.url}${hash}">${f.filename}</a><br/>`;
        });
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end(`<html><body>${links.join('\n')}</body></html>`);
      } else {
        res
          .writeHead(200, { 'content-type': 'application/vnd.pypi.simple.v1+json' })
          .end(JSON.stringify({ meta: { 'api-version': '1.1' }, name: page[1], files: list }));
      }
      return;
    }
    const file = /^\/files\/(.+)$/.exec(url.pathname)?.[1];
    for (const files of this.projects.values()) {
      const data = file !== undefined ? files.get(file) : undefined;
      if (data) {
        res.writeHead(200, { 'content-length': String(data.length) }).end(data);
        return;
      }
    }
    res.writeHead(404).end();
  }
}

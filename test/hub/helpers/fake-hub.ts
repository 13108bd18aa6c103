/**
 * A loopback stand-in for the Hugging Face hub and its CDN, speaking the hub's routes and
 * headers: `/{repo}/resolve/{revision}/{path}` (HEAD and GET), `X-Repo-Commit`, `ETag` (git blob
 * sha1) for regular files, a 302 to a second loopback server for LFS files with
 * `X-Linked-Etag` (sha256) and `X-Linked-Size`, `X-Error-Code` on 401/404, Range requests, gated
 * repositories that want a token, and a switch that cuts a body mid-way once.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

interface Revision {
  commit: string;
  files: Map<string, Buffer>;
}

interface Repo {
  revisions: Map<string, Revision>;
  token: string | undefined;
}

const LFS = /\.(onnx|onnx_data|data|bin|safetensors)$/;

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function gitBlobSha1(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

export function randomCommit(): string {
  return randomBytes(20).toString('hex');
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

function sendBytes(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  data: Buffer,
  headers: Record<string, string>,
  cut: boolean,
): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  let start = 0;
  let status = 200;
  if (range) {
    start = Number(range[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      return;
    }
    status = 206;
    headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
  }
  const body = data.subarray(start);
  res.writeHead(status, { ...headers, 'content-length': String(body.length), 'accept-ranges': 'bytes' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (cut) {
    // Half the body, then the connection drops.
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
    return;
  }
  res.end(body);
}

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  readonly cdnRequests: RecordedRequest[] = [];
  /** sha256 of LFS blobs whose next CDN GET is cut mid-body. */
  readonly cutNext = new Set<string>();
  /** Milliseconds the CDN waits between 16 KiB chunks (to make downloads overlap). */
  cdnChunkDelayMs = 0;
  endpoint = '';
  cdn = '';
  private readonly repos = new Map<string, Repo>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly hubServer = http.createServer((req, res) => this.handleHub(req, res));
  private readonly cdnServer = http.createServer((req, res) => this.handleCdn(req, res));

  async start(): Promise<this> {
    this.endpoint = await listen(this.hubServer);
    this.cdn = await listen(this.cdnServer);
    return this;
  }

  async close(): Promise<void> {
    this.hubServer.closeAllConnections();
    this.cdnServer.closeAllConnections();
    await Promise.all([
      new Promise((r) => this.hubServer.close(r)),
      new Promise((r) => this.cdnServer.close(r)),
    ]);
  }

  /** Adds (or replaces) a revision of a repository; returns its commit hash. */
  addRevision(
    modelId: string,
    revision: string,
    files: Record<string, Buffer | string>,
    options: { token?: string; commit?: string } = {},
  ): string {
    const repo = this.repos.get(modelId) ?? { revisions: new Map(), token: options.token };
    if (options.token !== undefined) repo.token = options.token;
    const commit = options.commit ?? randomCommit();
    const map = new Map<string, Buffer>();
    for (const [p, content] of Object.entries(files)) {
      const data = typeof content === 'string' ? Buffer.from(content) : content;
      map.set(p, data);
      if (LFS.test(p)) this.blobs.set(sha256(data), data);
    }
    const rev = { commit, files: map };
    repo.revisions.set(revision, rev);
    repo.revisions.set(commit, rev);
    this.repos.set(modelId, repo);
    return commit;
  }

  /** Requests to the hub for one file path (any revision). */
  requestsFor(file: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith(`/${file}`));
  }

  private record(list: RecordedRequest[], req: http.IncomingMessage): void {
    list.push({
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: req.headers.authorization,
      range: req.headers.range,
    });
  }

  private handleHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record(this.requests, req);
    const url = new URL(req.url ?? '/', this.endpoint);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    const [, modelId = '', rawRevision = '', rawPath = ''] = m;
    const revision = decodeURIComponent(rawRevision);
    const file = rawPath.split('/').map(decodeURIComponent).join('/');
    const repo = this.repos.get(modelId);
    if (!repo) {
      res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end('Repository not found');
      return;
    }
    if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) {
      res.writeHead(401, { 'x-error-code': 'GatedRepo' }).end('Access to this model is restricted');
      return;
    }
    const rev = repo.revisions.get(revision);
    if (!rev) {
      res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end('Invalid rev id');
      return;
    }
    const data = rev.files.get(file);
    const common = { 'x-repo-commit': rev.commit };
    if (!data) {
      res.writeHead(404, { ...common, 'x-error-code': 'EntryNotFound' }).end('Entry not found');
      return;
    }
    if (LFS.test(file)) {
      const oid = sha256(data);
      res
        .writeHead(302, {
          ...common,
          location: `${this.cdn}/blobs/${oid}?signature=${randomBytes(4).toString('hex')}`,
          'x-linked-etag': `"${oid}"`,
          'x-linked-size': String(data.length),
          etag: `"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\n`))}"`,
        })
        .end();
      return;
    }
    sendBytes(req, res, data, { ...common, etag: `"${gitBlobSha1(data)}"` }, false);
  }

  private handleCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record(this.cdnRequests, req);
    const url = new URL(req.url ?? '/', this.cdn);
    const oid = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname)?.[1] ?? '';
    const data = this.blobs.get(oid);
    if (!data) {
      res.writeHead(404).end();
      return;
    }
    const cut = req.method === 'GET' && this.cutNext.delete(oid);
    if (this.cdnChunkDelayMs > 0 && !cut && req.method === 'GET' && !req.headers.range) {
      this.sendSlowly(res, data);
      return;
    }
    sendBytes(req, res, data, { etag: `"${oid}"` }, cut);
  }

  private sendSlowly(res: http.ServerResponse, data: Buffer): void {
    res.writeHead(200, { 'content-length': String(data.length) });
    let offset = 0;
    const step = (): void => {
      if (res.destroyed) return;
      if (offset >= data.length) {
        res.end();
        return;
      }
      res.write(data.subarray(offset, offset + 16384));
      offset += 16384;
      setTimeout(step, this.cdnChunkDelayMs);
    };
    step();
  }
}

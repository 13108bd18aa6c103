/**
 * Helpers for the server tests: a server on a random loopback port serving the tiny fixture
 * models, and small HTTP helpers.
 */
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ConfigOverrides,
  createServer,
  type HfTasksServer,
  type ModelSpec,
  resolveConfig,
  type ServerOverrides,
} from '../../ts/server/index.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixtureModel = (name: string): string => path.join(root, 'test', 'fixtures', 'models', name);

/** The fixture models the server tests serve, under `test/<fixture>` ids. */
export const FIXTURE_MODELS: ModelSpec[] = [
  { id: 'test/bert-ner', path: fixtureModel('bert-ner'), tasks: ['token-classification'] },
  { id: 'test/bert-sentiment', path: fixtureModel('bert-sentiment'), tasks: ['text-classification'] },
  { id: 'test/bert-cross-encoder', path: fixtureModel('bert-cross-encoder'), tasks: ['text-classification'] },
  { id: 'test/bert-nli', path: fixtureModel('bert-nli'), tasks: ['zero-shot-classification'] },
  {
    id: 'test/st-encoder',
    path: fixtureModel('st-encoder'),
    tasks: ['feature-extraction', 'sentence-similarity'],
  },
];

export interface TestServer {
  server: HfTasksServer;
  url: string;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 with a random port; models load before it returns unless `preload` is false. */
export async function startTestServer(
  config: ConfigOverrides = {},
  overrides: ServerOverrides = {},
): Promise<TestServer> {
  const cfg = resolveConfig(
    { host: '127.0.0.1', port: 0, logLevel: 'silent', models: FIXTURE_MODELS },
    config,
  );
  const server = await createServer(cfg, overrides);
  const url = await server.listen();
  if (cfg.preload) await server.preload();
  return { server, url, close: () => server.close() };
}

export interface JsonResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: unknown;
  text: string;
}

/** One HTTP request over node:http (no default headers beyond host and content-length). */
export function request(
  method: string,
  url: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** POSTs JSON (anything but a string or bytes) or a raw body with the given headers. */
export function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  if (typeof body === 'string' || body instanceof Uint8Array) return request('POST', url, body, headers);
  return request('POST', url, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

/** GETs a URL. */
export function get(url: string): Promise<JsonResponse> {
  return request('GET', url);
}

/** The value of one Prometheus sample (`name{labels}`), summed over samples matching every label given. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

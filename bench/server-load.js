#!/usr/bin/env node
/**
 * Load bench of the HTTP server (a bench, not a test). Starts `hf-tasks serve` as a child
 * process on 127.0.0.1, measures each scenario's capacity with a closed-loop run, then offers
 * twice that rate for a bounded time with enough connections to overflow the model queue, and
 * records throughput, p50/p99 latency, status codes (no 5xx is allowed; 429 is the overload
 * answer) and the server's RSS before and after. Results: bench/results/server-load.{json,md}.
 *
 *   node bench/server-load.js [--fixtures] [--duration S] [--probe S] [--max-queue N] [--readme]
 *
 * Default models: the server's defaults (all-MiniLM-L6-v2, the PII NER model), provisioned into
 * the HF cache on first start. `--fixtures` uses the tiny test models instead.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};

const fixtures = flag('--fixtures');
const duration = Number(value('--duration', '20'));
const probeSeconds = Number(value('--probe', '8'));
const maxQueue = Number(value('--max-queue', '16'));

const fixture = (name) => path.join(root, 'test', 'fixtures', 'models', name);
const NER = fixtures ? 'test/bert-ner' : 'nationaldesignstudio/rampart';
const EMB = fixtures ? 'test/st-encoder' : 'sentence-transformers/all-MiniLM-L6-v2';
const modelFlags = fixtures
  ? [
      '--model',
      `${NER}=${fixture('bert-ner')}:token-classification`,
      '--model',
      `${EMB}=${fixture('st-encoder')}:feature-extraction`,
    ]
  : [];

const SENTENCES = [
  'My name is Sarah Jessica Parker but you can call me Jessica. I live in New York and work for Acme Corp.',
  'Contact John Smith at john.smith@example.com or +1 555 0100 before Friday, 12 March 2024.',
  'Hugging Face Inc. is a company based in New York City. Its headquarters are in DUMBO, Brooklyn.',
  'The quick brown fox jumps over the lazy dog while Maria Garcia watches from Madrid.',
];

const SCENARIOS = [
  {
    name: 'token-classification',
    path: `/models/${NER}`,
    bodies: SENTENCES.map((s) => JSON.stringify({ inputs: s })),
  },
  {
    name: 'feature-extraction (TEI /embed)',
    path: '/embed',
    bodies: SENTENCES.map((s) => JSON.stringify({ inputs: s, model: EMB })),
  },
];

function cliCommand() {
  const dist = path.join(root, 'dist', 'cli.js');
  if (existsSync(dist)) return [dist];
  return ['--import', 'tsx', path.join(root, 'ts', 'cli.ts')];
}

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startServer() {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      ...cliCommand(),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--log-level',
      'warn',
      '--max-queue',
      String(maxQueue),
      ...modelFlags,
    ],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') process.stderr.write(`server exited with ${code ?? signal}\n`);
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

function getJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

async function waitHealthy(url) {
  const deadline = Date.now() + 15 * 60_000;
  while (Date.now() < deadline) {
    const res = await getJson(`${url}/health`).catch(() => ({ status: 0 }));
    if (res.status === 200) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('server did not become healthy');
}

/** RSS of a process in MB, from /proc (Linux). */
function rssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Number((kb / 1024).toFixed(1));
  } catch {
    return null;
  }
}

/** Cumulative bucket counts of the server's request-latency histogram for a route and status. */
async function latencyBuckets(url, route, status) {
  const { body } = await getJson(`${url}/metrics`);
  const buckets = new Map();
  for (const line of body.split('\n')) {
    if (!line.startsWith('hf_tasks_http_request_duration_seconds_bucket{')) continue;
    if (!line.includes(`route="${route}"`) || !line.includes(`status="${status}"`)) continue;
    const m = /le="([^"]+)".*\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const le = m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
  }
  return buckets;
}

/** A quantile (ms) from the difference of two cumulative histograms, interpolated in its bucket. */
function quantileMs(before, after, q) {
  const les = [...after.keys()].sort((a, b) => a - b);
  const counts = les.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (let i = 0; i < les.length; i++) {
    const le = les[i];
    const c = counts[i];
    if (c >= rank) {
      if (!Number.isFinite(le)) return Math.round(prevLe * 1000);
      const within = c - prevCount > 0 ? (rank - prevCount) / (c - prevCount) : 1;
      return Math.round((prevLe + (le - prevLe) * within) * 1000);
    }
    prevLe = le;
    prevCount = c;
  }
  return null;
}

function cannon(opts) {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function requestsFor(scenario) {
  return scenario.bodies.map((body) => ({
    method: 'POST',
    path: scenario.path,
    headers: { 'content-type': 'application/json', 'x-use-cache': 'false' },
    body,
  }));
}

function summary(res) {
  const codes = Object.fromEntries(Object.entries(res.statusCodeStats).map(([k, v]) => [k, v.count]));
  const ok = codes['200'] ?? 0;
  return {
    seconds: res.duration,
    connections: res.connections,
    offered_rate_per_s: res.overallRate ?? null,
    ok_per_s: Number((ok / res.duration).toFixed(1)),
    completed: res.totalCompletedRequests,
    status_codes: codes,
    errors: res.errors,
    timeouts: res.timeouts,
    latency_ms: { p50: res.latency.p50, p90: res.latency.p90, p99: res.latency.p99, max: res.latency.max },
  };
}

async function main() {
  const loadAtStart = Number((os.loadavg()[0] ?? 0).toFixed(2));
  const { child, url } = await startServer();
  try {
    await waitHealthy(url);
    const results = [];
    for (const scenario of SCENARIOS) {
      const requests = requestsFor(scenario);
      await cannon({ url, requests, connections: 4, duration: 2 });
      const rssBefore = rssMb(child.pid);
      const probe = await cannon({ url, requests, connections: 8, duration: probeSeconds });
      const capacity = Math.max(1, Math.round((probe.statusCodeStats['200']?.count ?? 0) / probe.duration));
      const routeLabel = scenario.path.startsWith('/models/') ? '/models/*' : scenario.path;
      const bucketsBefore = await latencyBuckets(url, routeLabel, '200');
      const overload = await cannon({
        url,
        requests,
        connections: Math.max(32, maxQueue * 3),
        overallRate: capacity * 2,
        duration,
        timeout: 30,
      });
      const rssAfter = rssMb(child.pid);
      const bucketsAfter = await latencyBuckets(url, routeLabel, '200');
      const served = {
        p50: quantileMs(bucketsBefore, bucketsAfter, 0.5),
        p99: quantileMs(bucketsBefore, bucketsAfter, 0.99),
      };
      const s = summary(overload);
      const fiveXx = Object.entries(s.status_codes)
        .filter(([code]) => code.startsWith('5'))
        .reduce((n, [, c]) => n + c, 0);
      results.push({
        scenario: scenario.name,
        path: scenario.path,
        capacity_per_s: capacity,
        probe: summary(probe),
        overload: { ...s, offered_rate_per_s: capacity * 2, server_latency_ms_200: served },
        five_xx: fiveXx,
        rss_mb: { before: rssBefore, after: rssAfter },
      });
      process.stderr.write(
        `${scenario.name}: capacity ${capacity}/s, overload ${JSON.stringify(s.status_codes)}\n`,
      );
    }
    const report = {
      date: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpu: os.cpus()[0]?.model ?? 'unknown',
        memory_gb: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
        load_average_1m_at_start: loadAtStart,
      },
      models: fixtures ? 'tiny test fixtures' : 'default models',
      server: { max_queue: maxQueue, cache: 'bypassed (x-use-cache: false)' },
      results,
    };
    const dir = path.join(root, 'bench', 'results');
    writeFileSync(path.join(dir, 'server-load.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(path.join(dir, 'server-load.md'), markdown(report));
    process.stdout.write(markdown(report));
    if (flag('--readme')) updateReadme(markdown(report));
    if (results.some((r) => r.five_xx > 0)) process.exitCode = 1;
  } finally {
    child.kill('SIGTERM');
  }
}

/** Replaces the block between the server-load markers of README.md with the results table. */
function updateReadme(md) {
  const file = path.join(root, 'README.md');
  const text = readFileSync(file, 'utf8');
  const begin = '<!-- server-load:begin -->';
  const end = '<!-- server-load:end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error('README.md has no server-load markers');
  const body = md.replace(/^# Server load bench\n\n/, '');
  writeFileSync(file, `${text.slice(0, i + begin.length)}\n${body}${text.slice(j)}`);
}

function markdown(report) {
  const lines = [
    '# Server load bench',
    '',
    `${report.date} · ${report.machine.cpus} × ${report.machine.cpu} · ${report.machine.memory_gb} GiB · Node ${report.machine.node} · load average ${report.machine.load_average_1m_at_start} at start · ${report.models} · max queue ${report.server.max_queue} · result cache bypassed`,
    '',
    'Capacity: closed loop, 8 connections. Overload: twice the capacity offered for the bounded time, with enough connections to overflow the queue; 429 is the expected overload answer, 5xx must stay 0.',
    '',
    '| scenario | capacity req/s | offered req/s | 200/s | p50 ms (200s, server) | p99 ms (200s, server) | p50 / p99 ms (all answers, client) | 429 | 5xx | errors | RSS before → after MB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of report.results) {
    const o = r.overload;
    lines.push(
      `| ${r.scenario} | ${r.capacity_per_s} | ${o.offered_rate_per_s} | ${o.ok_per_s} | ${o.server_latency_ms_200.p50} | ${o.server_latency_ms_200.p99} | ${o.latency_ms.p50} / ${o.latency_ms.p99} | ${o.status_codes['429'] ?? 0} | ${r.five_xx} | ${o.errors + o.timeouts} | ${r.rss_mb.before} → ${r.rss_mb.after} |`,
    );
  }
  lines.push('', 'Closed-loop probe latencies (8 connections):', '');
  lines.push('| scenario | p50 ms | p99 ms |', '|---|---:|---:|');
  for (const r of report.results)
    lines.push(`| ${r.scenario} | ${r.probe.latency_ms.p50} | ${r.probe.latency_ms.p99} |`);
  return `${lines.join('\n')}\n`;
}

await main();

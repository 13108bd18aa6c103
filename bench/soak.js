/**
 * Memory soak: RSS of the pipeline after a warm-up and again after N more calls (default 100k)
 * from 64 concurrent callers on one model. Goal: RSS within 5% after the warm-up.
 *
 *   node bench/soak.js [--calls 100000] [--warmup 50000] [--model test/fixtures/models/bert-ner] [--task token-classification]
 *
 * Writes bench/results/soak.{json,md}.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pipeline, shutdownEngine } from '../dist/index.js';
import { machine } from './machine.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '100000' },
    warmup: { type: 'string', default: '50000' },
    model: { type: 'string', default: path.join(ROOT, 'test/fixtures/models/bert-ner') },
    task: { type: 'string', default: 'token-classification' },
    concurrency: { type: 'string', default: '64' },
  },
});

const TEXTS = [
  'My name is Sarah Jessica Parker but you can call me Jessica',
  'Apple Inc. is headquartered in Cupertino, California.',
  '😀 Clara Schumann was born in Leipzig.',
  'The Eiffel Tower in Paris attracts millions of visitors every year.',
];

const mb = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function drive(pipe, calls, concurrency) {
  let next = 0;
  async function caller() {
    while (next < calls) {
      const i = next++;
      await pipe(TEXTS[i % TEXTS.length]);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller));
}

const pipe = await pipeline(args.task, args.model, { progress: false });
const concurrency = Number(args.concurrency);
const started = Date.now();
await drive(pipe, Number(args.warmup), concurrency);
const warm = process.memoryUsage().rss;
await drive(pipe, Number(args.calls), concurrency);
const after = process.memoryUsage().rss;
const seconds = (Date.now() - started) / 1000;
await pipe.dispose();
await shutdownEngine();

const growth = (after - warm) / warm;
const result = {
  machine: machine(),
  date: new Date().toISOString(),
  model: path.relative(ROOT, args.model) || args.model,
  task: args.task,
  warmupCalls: Number(args.warmup),
  calls: Number(args.calls),
  concurrency,
  seconds,
  rssAfterWarmupMB: mb(warm),
  rssAfterMB: mb(after),
  growthPercent: Math.round(growth * 1000) / 10,
};
const md = `# Memory soak

${result.calls} calls after ${result.warmupCalls} warm-up calls, ${concurrency} concurrent callers,
\`${result.task}\` on \`${result.model}\` (default engine), ${result.seconds.toFixed(0)} s, ${result.date}.

| RSS after warm-up | RSS after ${result.calls} calls | growth |
|---:|---:|---:|
| ${result.rssAfterWarmupMB} MB | ${result.rssAfterMB} MB | ${result.growthPercent}% |
`;
writeFileSync(path.join(ROOT, 'bench/results/soak.json'), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(path.join(ROOT, 'bench/results/soak.md'), md);
console.log(md);

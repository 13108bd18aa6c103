/**
 * Primitives benchmark: the native tokenizer against @huggingface/tokenizers (pure JS) on the
 * same tokenizer.json files and texts, and the native softmax / top-k kernels against plain
 * JavaScript. Writes bench/results/primitives.json and bench/results/primitives.md.
 *
 *   npm run bench:primitives            (about two minutes)
 *   node --import=tsx bench/primitives.js --seconds 1 --tokenizer path/to/model-dir
 *
 * Tokenizers measured: the test fixtures (WordPiece, byte-level BPE, unigram) and, when they are
 * in the Hugging Face cache, the real tokenizers of the pinned mirror models.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import Benchmark from 'benchmark';
import { applyScores, hubCacheDir, Tokenizer, topK } from '../ts/index.js';
import { machine } from './machine.js';
import { longTexts, shortTexts } from './texts.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const resultsDir = path.join(here, 'results');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const SECONDS = Number(arg('seconds', '2'));
const extraTokenizer = arg('tokenizer', null);

/** Tokenizer folders to measure: fixtures, cached real models, and one from the command line. */
function tokenizerDirs() {
  const dirs = ['bert-uncased', 'roberta-bpe', 'xlmr-unigram'].map((n) => ({
    name: `fixture ${n}`,
    dir: path.join(root, 'test', 'fixtures', 'tokenizers', n),
  }));
  for (const id of ['sentence-transformers/all-MiniLM-L6-v2', 'nationaldesignstudio/rampart']) {
    const snapshots = path.join(hubCacheDir(), `models--${id.replace('/', '--')}`, 'snapshots');
    if (!existsSync(snapshots)) continue;
    for (const rev of readdirSync(snapshots).sort()) {
      const dir = path.join(snapshots, rev);
      if (existsSync(path.join(dir, 'tokenizer.json'))) {
        dirs.push({ name: id, dir });
        break;
      }
    }
  }
  if (extraTokenizer) dirs.push({ name: extraTokenizer, dir: path.resolve(extraTokenizer) });
  return dirs;
}

function readJson(file) {
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
}

const corpus = readFileSync(path.join(root, 'scripts', 'fixtures', 'corpus.txt'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '');
const BATCHES = {
  'short x64': shortTexts(64, 11),
  'long x8 (300 words)': longTexts(8, 300, 12),
  'multilingual x64': corpus.slice(0, 64),
};

const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** Runs one Benchmark.js case and returns its statistics. */
function measure(name, fn, { defer = false, work = 1 } = {}) {
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(name, {
      defer,
      fn: defer ? (d) => fn().then(() => d.resolve(), reject) : fn,
      maxTime: SECONDS,
      minSamples: 5,
      onComplete() {
        if (this.error) {
          reject(this.error);
          return;
        }
        const meanMs = this.stats.mean * 1000;
        resolve({
          name,
          hz: round(this.hz, 2),
          meanMs: round(meanMs, 4),
          rmePct: round(this.stats.rme, 2),
          samples: this.stats.sample.length,
          workPerSec: round((work * 1000) / meanMs, 0),
        });
      },
    });
    bench.run({ async: true });
  });
}

// ---- plain-JS reference kernels ----

function jsSoftmaxRows(values, rows, cols) {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < cols; j++) if (values[base + j] > max) max = values[base + j];
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.fround(Math.exp(values[base + j] - max));
      out[base + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < cols; j++) out[base + j] *= inv;
  }
  return out;
}

function jsTopK(values, k) {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b] - values[a] || a - b);
  return idx.slice(0, k);
}

/** Same result as jsTopK, keeping a small sorted buffer instead of sorting everything. */
function jsTopKSelect(values, k) {
  const best = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (best.length === k && v <= values[best[k - 1]]) continue;
    let at = best.length;
    while (at > 0 && values[best[at - 1]] < v) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

function seededFloats(n, seed) {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 20 - 10;
  }
  return out;
}

// ---- suites ----

async function tokenizerSuite() {
  const out = [];
  for (const { name, dir } of tokenizerDirs()) {
    const ours = Tokenizer.fromFile(dir);
    const js = new JsTokenizer(
      readJson(path.join(dir, 'tokenizer.json')),
      readJson(path.join(dir, 'tokenizer_config.json')),
    );
    for (const [batchName, texts] of Object.entries(BATCHES)) {
      // Unpadded, `lengths` are the real row lengths.
      const enc = ours.encodeBatchSync(texts);
      const tokens = enc.lengths.reduce((a, b) => a + b, 0);
      // Agreement of the two libraries on this batch (ids, special tokens included).
      let same = 0;
      for (let r = 0; r < texts.length; r++) {
        const at = r * enc.dims[1];
        const a = Array.from(enc.inputIds.subarray(at, at + enc.lengths[r]), Number);
        const b = js.encode(texts[r]).ids;
        if (a.length === b.length && a.every((v, i) => v === b[i])) same++;
      }
      const row = {
        tokenizer: name,
        batch: batchName,
        texts: texts.length,
        tokens,
        idsAgree: `${same}/${texts.length}`,
      };
      row.hfTasksSync = await measure(
        `${name} ${batchName} hf-tasks sync`,
        () => ours.encodeBatchSync(texts, { padding: 'longest' }),
        { work: tokens },
      );
      row.hfTasksAsync = await measure(
        `${name} ${batchName} hf-tasks async`,
        () => ours.encodeBatch(texts, { padding: 'longest' }),
        { defer: true, work: tokens },
      );
      row.hfTasksUnpadded = await measure(
        `${name} ${batchName} hf-tasks sync unpadded`,
        () => ours.encodeBatchSync(texts),
        { work: tokens },
      );
      row.tokenizersJs = await measure(
        `${name} ${batchName} @huggingface/tokenizers`,
        () => {
          for (const t of texts) js.encode(t);
        },
        { work: tokens },
      );
      console.log(
        `${name.padEnd(40)} ${batchName.padEnd(20)} hf-tasks ${row.hfTasksSync.meanMs} ms  async ${row.hfTasksAsync.meanMs} ms  tokenizers.js ${row.tokenizersJs.meanMs} ms  (ids agree ${row.idsAgree})`,
      );
      out.push(row);
    }
  }
  return out;
}

async function kernelSuite() {
  const out = [];
  const shapes = [
    { name: 'fill-mask vocab [8, 30522]', rows: 8, cols: 30522 },
    { name: 'token-classification [512, 9]', rows: 512, cols: 9 },
    { name: 'text-classification [64, 3]', rows: 64, cols: 3 },
  ];
  for (const { name, rows, cols } of shapes) {
    const values = seededFloats(rows * cols, rows + cols);
    const a = applyScores(values, rows, cols, 'softmax');
    const b = jsSoftmaxRows(values, rows, cols);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    const row = { kernel: 'softmax', shape: name, maxAbsDiff: maxDiff };
    row.native = await measure(`softmax ${name} native`, () => applyScores(values, rows, cols, 'softmax'), {
      work: rows * cols,
    });
    row.plainJs = await measure(`softmax ${name} js`, () => jsSoftmaxRows(values, rows, cols), {
      work: rows * cols,
    });
    console.log(`softmax ${name.padEnd(32)} native ${row.native.meanMs} ms  js ${row.plainJs.meanMs} ms`);
    out.push(row);
  }
  for (const n of [30522, 250002]) {
    const values = seededFloats(n, n);
    const k = 5;
    const same = Array.from(topK(values, k)).join() === jsTopK(values, k).join();
    const row = {
      kernel: 'topK',
      shape: `k=${k} of ${n}`,
      sameIndices: same && jsTopKSelect(values, k).join() === jsTopK(values, k).join(),
    };
    row.native = await measure(`topK ${n} native`, () => topK(values, k), { work: n });
    row.plainJs = await measure(`topK ${n} js sort`, () => jsTopK(values, k), { work: n });
    row.plainJsSelect = await measure(`topK ${n} js select`, () => jsTopKSelect(values, k), { work: n });
    console.log(
      `topK k=${k} of ${n}`.padEnd(40),
      `native ${row.native.meanMs} ms  js sort ${row.plainJs.meanMs} ms  js select ${row.plainJsSelect.meanMs} ms`,
    );
    out.push(row);
  }
  return out;
}

function markdown(result) {
  const m = result.machine;
  const lines = [
    '# Primitives benchmark',
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; load average ${m.loadavg.join(' ')} at start.`,
    `Benchmark.js ${m.versions.benchmark}, @huggingface/tokenizers ${result.versions.tokenizersJs}, ${SECONDS} s per case; ${result.date}.`,
    '',
    '## Tokenization (mean time per batch; tokens/s counts real tokens, special tokens included)',
    '',
    'hf-tasks returns padded typed arrays with ids, masks, type ids, offsets, word and sequence ids;',
    '@huggingface/tokenizers is called once per text and returns ids, tokens and the attention mask',
    'as JS arrays (no offsets). `ids agree` compares the two libraries on the batch.',
    '',
    '| tokenizer | batch | tokens | hf-tasks sync ms | async ms | sync unpadded ms | tokenizers.js ms | speed-up (sync) | hf-tasks tokens/s | ids agree |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of result.tokenization) {
    lines.push(
      `| ${r.tokenizer} | ${r.batch} | ${r.tokens} | ${r.hfTasksSync.meanMs} ±${r.hfTasksSync.rmePct}% | ${r.hfTasksAsync.meanMs} | ${r.hfTasksUnpadded.meanMs} | ${r.tokenizersJs.meanMs} ±${r.tokenizersJs.rmePct}% | ${round(r.tokenizersJs.meanMs / r.hfTasksSync.meanMs, 1)}x | ${r.hfTasksSync.workPerSec} | ${r.idsAgree} |`,
    );
  }
  lines.push(
    '',
    '## Kernels (mean time per call)',
    '',
    '| kernel | shape | native ms | plain JS ms | speed-up | check |',
    '|---|---|---:|---:|---:|---|',
  );
  for (const r of result.kernels) {
    const check =
      r.kernel === 'softmax'
        ? `max abs diff ${r.maxAbsDiff.toExponential(1)}`
        : `same indices: ${r.sameIndices}`;
    const js = r.plainJsSelect && r.plainJsSelect.meanMs < r.plainJs.meanMs ? r.plainJsSelect : r.plainJs;
    lines.push(
      `| ${r.kernel} | ${r.shape} | ${r.native.meanMs} | ${js.meanMs}${js === r.plainJsSelect ? ' (select)' : ''} | ${round(js.meanMs / r.native.meanMs, 1)}x | ${check} |`,
    );
  }
  lines.push(
    '',
    'Timings on a shared machine vary from run to run; compare rows of one run. A load average above the core count means other processes competed for the CPU during the run (± is the relative margin of error reported by Benchmark.js).',
    '',
  );
  return lines.join('\n');
}

async function main() {
  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: {
      tokenizersJs: JSON.parse(
        readFileSync(path.join(root, 'node_modules', '@huggingface', 'tokenizers', 'package.json'), 'utf8'),
      ).version,
    },
    secondsPerCase: SECONDS,
  };
  result.tokenization = await tokenizerSuite();
  result.kernels = await kernelSuite();
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, 'primitives.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(path.join(resultsDir, 'primitives.md'), markdown(result));
  console.log(`wrote ${path.relative(root, resultsDir)}/primitives.{json,md}`);
}

await main();

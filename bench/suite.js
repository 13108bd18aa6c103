/**
 * One benchmark process: one target (model + task) on one implementation, every scenario that
 * applies, written as JSON to the file named on the command line. `run.js` starts one process
 * per (target, implementation) so that runtimes never share an address space (transformers.js
 * pins its own onnxruntime-node) and memory figures belong to one implementation.
 *
 *   node bench/suite.js '{"target":"tiny-bert-ner","impl":"floor","seconds":2,"out":"/tmp/x.json"}'
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Benchmark from 'benchmark';
// Only the tokenizer (no onnxruntime): transformers.js loads its own onnxruntime-node build.
import { Tokenizer } from '../dist/tokenizer.js';
import { machine } from './machine.js';
import { flopsPerToken, INLINE_SCENARIOS, targets } from './targets.js';
import { longTexts, shortTexts, similarityInputs } from './texts.js';

const IMPLS = {
  floor: { module: './impls/floor.js', options: {} },
  'hf-tasks': { module: './impls/ours.js', options: {} },
  'hf-tasks-inline': { module: './impls/ours.js', options: { inline: true } },
  'transformers.js': { module: './impls/transformersjs.js', options: {} },
};

const mb = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
const round3 = (x) => Math.round(x * 1000) / 1000;

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function latencyStats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return {
    samples: s.length,
    meanMs: round3(mean),
    p50Ms: round3(percentile(s, 50)),
    p90Ms: round3(percentile(s, 90)),
    p99Ms: round3(percentile(s, 99)),
  };
}

/** Real tokens and fp32-equivalent FLOPs of one input (a text, or a similarity request). */
function workOf(target, tokenizer, input) {
  const texts = target.kind === 'similarity' ? [input.source_sentence, ...input.sentences] : [input];
  const enc = tokenizer.encodeBatchSync(texts, { truncation: true, maxLength: target.maxLength });
  let tokens = 0;
  let flops = 0;
  for (const len of enc.lengths) {
    tokens += len;
    flops += len * flopsPerToken(target.config, len);
  }
  return { sentences: texts.length, tokens, flops };
}

function sumWork(target, tokenizer, inputs) {
  const total = { sentences: 0, tokens: 0, flops: 0 };
  for (const x of inputs) {
    const w = workOf(target, tokenizer, x);
    total.sentences += w.sentences;
    total.tokens += w.tokens;
    total.flops += w.flops;
  }
  return total;
}

/** Wraps a timed region: event-loop delay histogram and CPU time. */
async function measured(fn) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  return {
    ...out,
    wallMs: Math.round(wallMs),
    cpuCores: round3((cpu.user + cpu.system) / 1000 / wallMs),
    eventLoopDelayP99Ms: round3(loop.percentile(99) / 1e6),
    eventLoopDelayMaxMs: round3(loop.max / 1e6),
  };
}

/** Rates from the work of `items` inputs and the seconds one input takes on average. */
function throughput(work, items, secondsPerItem, peakGflops) {
  const perItem = {
    sentences: work.sentences / items,
    tokens: work.tokens / items,
    flops: work.flops / items,
  };
  const itemsPerSec = 1 / secondsPerItem;
  const gflops = (perItem.flops * itemsPerSec) / 1e9;
  return {
    sentencesPerSec: round3(perItem.sentences * itemsPerSec),
    tokensPerSec: Math.round(perItem.tokens * itemsPerSec),
    gflops: round3(gflops),
    peakShare: round3(gflops / peakGflops),
  };
}

async function latencyScenario(impl, inputs, seconds, maxCalls) {
  for (const x of inputs.slice(0, 5)) await impl.one(x);
  const ms = [];
  const deadline = performance.now() + seconds * 1000;
  let i = 0;
  while ((performance.now() < deadline || ms.length < 20) && ms.length < maxCalls) {
    const x = inputs[i++ % inputs.length];
    const t = performance.now();
    await impl.one(x);
    ms.push(performance.now() - t);
  }
  return { ms, calls: ms.length, inputsUsed: Math.min(ms.length, inputs.length) };
}

function batchScenario(impl, texts, seconds) {
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(`batch of ${texts.length}`, {
      defer: true,
      maxTime: seconds,
      minSamples: 5,
      fn(deferred) {
        impl.batch(texts).then(
          () => deferred.resolve(),
          (err) => {
            bench.abort();
            reject(err);
          },
        );
      },
    });
    bench.on('complete', function onComplete() {
      resolve({
        hz: this.hz,
        rme: this.stats.rme,
        samples: this.stats.sample.length,
        meanMs: this.stats.mean * 1000,
      });
    });
    bench.on('error', function onError() {
      reject(this.error);
    });
    bench.run({ async: true });
  });
}

async function concurrentScenario(impl, inputs, seconds) {
  await impl.round(inputs);
  const ms = [];
  let rounds = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < deadline || rounds < 3) {
    const start = performance.now();
    if (impl.concurrentPerCall === false) {
      await impl.round(inputs);
      const took = performance.now() - start;
      for (let i = 0; i < inputs.length; i++) ms.push(took);
    } else {
      await Promise.all(inputs.map((x) => impl.one(x).then(() => ms.push(performance.now() - start))));
    }
    rounds++;
  }
  return { ms, rounds, totalMs: performance.now() - t0 };
}

async function main() {
  const args = JSON.parse(process.argv[2] ?? '{}');
  const target = targets().find((t) => t.id === args.target);
  if (target === undefined || target.onnxFile === null)
    throw new Error(`target ${args.target} is not available`);
  const spec = IMPLS[args.impl];
  if (spec === undefined) throw new Error(`unknown implementation ${args.impl}`);
  const seconds = args.seconds ?? 3;
  const host = machine();
  const threads = args.threads ?? host.cores;
  const tokenizer = Tokenizer.fromFile(target.dir);
  const tinyWords = target.maxLength <= 64 ? [4, 10] : [8, 24];
  const inputs = {
    short:
      target.kind === 'similarity' ? similarityInputs(64, 3, ...tinyWords) : shortTexts(64, 1, ...tinyWords),
    batch: shortTexts(32, 4, ...tinyWords),
    concurrent:
      target.kind === 'similarity' ? similarityInputs(64, 5, ...tinyWords) : shortTexts(64, 5, ...tinyWords),
    long: longTexts(8, target.longWords ?? 0, 6),
  };

  const rssBefore = process.memoryUsage().rss;
  const module = await import(spec.module);
  const tLoad = performance.now();
  const device = args.device ?? 'cpu';
  const impl = await module.open(target, { threads, device, ...spec.options });
  const loadMs = Math.round(performance.now() - tLoad);
  const rssLoaded = process.memoryUsage().rss;
  const scenarios = {};
  const wanted = target.scenarios.filter(
    (s) =>
      (args.impl !== 'hf-tasks-inline' || INLINE_SCENARIOS.has(s)) &&
      (!Array.isArray(args.scenarios) || args.scenarios.includes(s)),
  );
  for (const scenario of wanted) {
    if (scenario === 'latency' || scenario === 'long') {
      const list = scenario === 'long' ? inputs.long : inputs.short;
      impl.prepare?.('one', list);
      const r = await measured(() => latencyScenario(impl, list, seconds, 5000));
      const work = sumWork(target, tokenizer, list);
      const lat = latencyStats(r.ms);
      scenarios[scenario] = {
        ...lat,
        ...throughput(work, list.length, lat.meanMs / 1000, host.peakGflops),
        wallMs: r.wallMs,
        cpuCores: r.cpuCores,
        eventLoopDelayP99Ms: r.eventLoopDelayP99Ms,
        eventLoopDelayMaxMs: r.eventLoopDelayMaxMs,
      };
    } else if (scenario === 'batch32') {
      impl.prepare?.('batch', inputs.batch);
      const r = await measured(() => batchScenario(impl, inputs.batch, seconds));
      const work = sumWork(target, tokenizer, inputs.batch);
      scenarios[scenario] = {
        samples: r.samples,
        batchMeanMs: round3(r.meanMs),
        rmePercent: round3(r.rme),
        ...throughput(work, inputs.batch.length, 1 / (r.hz * inputs.batch.length), host.peakGflops),
        wallMs: r.wallMs,
        cpuCores: r.cpuCores,
        eventLoopDelayP99Ms: r.eventLoopDelayP99Ms,
        eventLoopDelayMaxMs: r.eventLoopDelayMaxMs,
      };
    } else if (scenario === 'concurrent64') {
      impl.prepare?.('round', inputs.concurrent);
      if (args.impl === 'floor') impl.concurrentPerCall = false;
      const r = await measured(() => concurrentScenario(impl, inputs.concurrent, seconds));
      const work = sumWork(target, tokenizer, inputs.concurrent);
      const perItemSeconds = r.totalMs / 1000 / (r.rounds * inputs.concurrent.length);
      scenarios[scenario] = {
        ...latencyStats(r.ms),
        rounds: r.rounds,
        ...throughput(work, inputs.concurrent.length, perItemSeconds, host.peakGflops),
        wallMs: r.wallMs,
        cpuCores: r.cpuCores,
        eventLoopDelayP99Ms: r.eventLoopDelayP99Ms,
        eventLoopDelayMaxMs: r.eventLoopDelayMaxMs,
      };
    }
  }
  const rssAfter = process.memoryUsage().rss;
  await impl.close();
  const result = {
    target: target.id,
    impl: args.impl,
    note: module.note,
    loadMs,
    memory: {
      rssBeforeMB: mb(rssBefore),
      rssLoadedMB: mb(rssLoaded),
      rssAfterMB: mb(rssAfter),
      maxRssMB: mb(process.resourceUsage().maxRSS * 1024),
    },
    scenarios,
  };
  writeFileSync(args.out, JSON.stringify(result, null, 2));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err?.stack ?? String(err));
    process.exit(1);
  },
);

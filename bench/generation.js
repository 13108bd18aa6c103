/**
 * `npm run bench:generation`: greedy text generation on the same decoder ONNX file in three
 * implementations, side by side, each in its own process (bench/impls/generation-*.js):
 *   floor            raw onnxruntime-node decode loop, KV cache fed back (main thread)
 *   hf-tasks         pipeline('text-generation') (generation worker, continuous batching)
 *   transformers.js  its pipeline('text-generation') on the same file
 * Figures per model: time to first token (p50), tokens/s for one stream, aggregate tokens/s for
 * 16 and 64 concurrent streams, event-loop p99 delay while generating, RSS growth over many
 * generations (hf-tasks). Every generation makes exactly `--max-new-tokens` tokens
 * (`min_new_tokens` = `max_new_tokens`, EOS masked until then) so that counts match.
 * Results to bench/results/generation.{json,md}; `--readme` writes the summary into the README.
 *
 *   node --import=tsx bench/generation.js [--targets=llama-tiny,smollm2] [--impls=floor,hf-tasks,transformers.js]
 *     [--scenarios=single,c16,c64,rss] [--readme]
 *   node --import=tsx bench/generation.js --report [--readme]   (re-render from generation.json)
 *
 * Sizes per target (max new tokens, sequential generations, rounds, RSS generations) are in
 * TARGETS below; `--scale=0.5` shrinks the counts of a quick run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { machine } from './machine.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const IMPLS = {
  floor: { module: './impls/generation-floor.js', options: {} },
  'hf-tasks': { module: './impls/generation-ours.js', options: {} },
  // A diagnostic: the same loop in the calling thread, session.run timed.
  'hf-tasks-inline': { module: './impls/generation-ours.js', options: { inline: true } },
  'transformers.js': { module: './impls/generation-transformersjs.js', options: {} },
};
const SCENARIOS = ['single', 'c16', 'c64', 'rss'];

/** Prompts (plain text, no chat template), a few tokens to a sentence long. */
const PROMPTS = [
  'Once upon a time, in a small village by the sea,',
  'The three most important things to know about photosynthesis are',
  'def fibonacci(n):',
  'My favourite recipe for a rainy afternoon is',
  'The history of the Roman Empire began when',
  'Here is a short poem about the moon:',
  'To install the package, first open a terminal and',
  'The capital of France is',
];

function hubCache() {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  if (process.env.HF_HOME) return path.join(process.env.HF_HOME, 'hub');
  return path.join(os.homedir(), '.cache', 'huggingface', 'hub');
}

function snapshotDir(modelId) {
  const repo = path.join(hubCache(), `models--${modelId.replace('/', '--')}`);
  const ref = path.join(repo, 'refs', 'main');
  if (!existsSync(ref)) return null;
  const dir = path.join(repo, 'snapshots', readFileSync(ref, 'utf8').trim());
  return existsSync(dir) ? dir : null;
}

/**
 * Targets and their sizes. `single`: sequential one-stream generations; `rounds16`/`rounds64`:
 * rounds of 16/64 concurrent streams; `rssWarmup`/`rssGenerations`: hf-tasks generations of
 * `rssMaxNewTokens` tokens (at `rssConcurrency`) before the first and between the two RSS
 * readings; `impls`: who runs; `skip`: scenarios left out for one implementation, and why.
 */
export function generationTargets() {
  const smol = snapshotDir('HuggingFaceTB/SmolLM2-135M-Instruct');
  const list = [
    {
      id: 'llama-tiny',
      title: 'llama-tiny fixture (2 layers, hidden 32, grouped-query attention; fp32, 0.4 MB)',
      dir: path.join(ROOT, 'test/fixtures/models/llama-tiny'),
      onnx: 'model.onnx',
      maxNewTokens: 16,
      single: 100,
      rounds16: 10,
      rounds64: 5,
      rssMaxNewTokens: 4,
      rssConcurrency: 16,
      rssWarmup: 2000,
      rssGenerations: 10000,
      impls: ['floor', 'hf-tasks', 'hf-tasks-inline', 'transformers.js'],
      skip: {},
    },
    {
      id: 'smollm2',
      title: 'SmolLM2-135M-Instruct (fp32 ONNX decoder with past, 539 MB)',
      dir: smol,
      onnx: 'onnx/model.onnx',
      maxNewTokens: 32,
      single: 4,
      rounds16: 1,
      rounds64: 1,
      rssMaxNewTokens: 8,
      rssConcurrency: 16,
      rssWarmup: 16,
      rssGenerations: 64,
      impls: ['floor', 'hf-tasks', 'hf-tasks-inline', 'transformers.js'],
      skip: {
        'hf-tasks-inline': { scenarios: ['c16', 'c64'], why: 'a diagnostic, one stream is enough' },
        'transformers.js': {
          scenarios: ['c64'],
          why: 'its concurrent calls are not batched (16 streams run below one stream), so 64 would take minutes',
        },
      },
    },
  ];
  return list.map((t) => {
    const onnxFile = t.dir === null ? null : path.join(t.dir, t.onnx);
    const ok = onnxFile !== null && existsSync(onnxFile);
    return {
      ...t,
      onnxFile: ok ? onnxFile : null,
      config: ok ? JSON.parse(readFileSync(path.join(t.dir, 'config.json'), 'utf8')) : null,
    };
  });
}

// ------------------------------------------------------------------------------------ stats

const round3 = (x) => (x === null || x === undefined ? null : Math.round(x * 1000) / 1000);
const mb = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summary(ms) {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: round3(percentile(s, 50)), p90: round3(percentile(s, 90)), max: round3(s.at(-1)) };
}

/** Event-loop delay histogram and CPU time around a timed region. */
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

/**
 * One generation per stream, `streams` at once (1 = sequential single stream), timed per token:
 * time to first token, inter-token gaps, generated tokens.
 */
async function streamsRound(impl, inputs, opts, streams) {
  const t0 = performance.now();
  const first = new Array(streams).fill(null);
  const last = new Array(streams).fill(t0);
  const gaps = [];
  const onToken = (i) => {
    const t = performance.now();
    if (first[i] === null) first[i] = t - t0;
    else gaps.push(t - last[i]);
    last[i] = t;
  };
  const ids =
    streams === 1
      ? [await impl.one(inputs[0], opts, () => onToken(0))]
      : await impl.many(inputs.slice(0, streams), opts, onToken);
  const ms = performance.now() - t0;
  const tokens = ids.reduce((n, x) => n + x.length, 0);
  return { ms, ttft: first, gaps, tokens, ids };
}

async function scenario(impl, inputsOf, opts, streams, rounds) {
  const ttft = [];
  const gaps = [];
  let tokens = 0;
  let ms = 0;
  const firstIds = [];
  for (let r = 0; r < rounds; r++) {
    const inputs = inputsOf(r, streams);
    const out = await streamsRound(impl, inputs, opts, streams);
    for (const t of out.ttft) if (t !== null) ttft.push(t);
    gaps.push(...out.gaps);
    tokens += out.tokens;
    ms += out.ms;
    if (streams === 1 && r < PROMPTS.length) firstIds.push(out.ids[0]);
  }
  return {
    streams,
    rounds,
    generations: streams * rounds,
    tokens,
    tokensPerSec: round3((tokens / ms) * 1000),
    ttftMs: summary(ttft),
    interTokenMs: summary(gaps),
    ...(firstIds.length > 0 && { ids: firstIds }),
  };
}

/** RSS after a warm-up and after more generations, `concurrency` callers at a time. */
async function rssScenario(impl, inputsOf, opts, target, scale) {
  const drive = async (count) => {
    let next = 0;
    const caller = async () => {
      while (next < count) {
        const i = next++;
        await impl.one(inputsOf(i, 1)[0], opts);
      }
    };
    await Promise.all(Array.from({ length: target.rssConcurrency }, caller));
  };
  const warmup = Math.max(1, Math.round(target.rssWarmup * scale));
  const generations = Math.max(1, Math.round(target.rssGenerations * scale));
  const t0 = performance.now();
  await drive(warmup);
  global.gc?.();
  const warm = process.memoryUsage().rss;
  await drive(generations);
  global.gc?.();
  const after = process.memoryUsage().rss;
  return {
    concurrency: target.rssConcurrency,
    warmupGenerations: warmup,
    generations,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    rssAfterWarmupMB: mb(warm),
    rssAfterMB: mb(after),
    growthPercent: Math.round(((after - warm) / warm) * 1000) / 10,
  };
}

/** Child process: one target on one implementation. */
async function child(args) {
  const target = generationTargets().find((t) => t.id === args.target);
  if (target === undefined || target.onnxFile === null)
    throw new Error(`target ${args.target} is not available`);
  const host = machine();
  const scale = args.scale ?? 1;
  // The event-loop delay of this process idle, before anything loads: what the machine's other
  // work alone costs the event loop.
  const idle = await measured(() => new Promise((resolve) => setTimeout(() => resolve({}), 2000)));
  const rssBefore = process.memoryUsage().rss;
  const spec = IMPLS[args.impl];
  if (spec === undefined) throw new Error(`unknown implementation ${args.impl}`);
  const module = await import(spec.module);
  const tLoad = performance.now();
  const impl = await module.open(target, { threads: host.cores, ...spec.options });
  const loadMs = Math.round(performance.now() - tLoad);
  const rssLoaded = process.memoryUsage().rss;
  // Inputs are prepared outside the timed regions (the floor takes token ids).
  const prepared = PROMPTS.map((p) => (impl.encode ? impl.encode(p) : p));
  const inputsOf = (round, streams) =>
    Array.from({ length: streams }, (_, i) => prepared[(round * streams + i) % prepared.length]);
  const opts = { maxNewTokens: target.maxNewTokens, minNewTokens: target.maxNewTokens };
  const count = (n) => Math.max(1, Math.round(n * scale));
  // Warm-up: one stream and one small batch.
  const warm = { maxNewTokens: 4, minNewTokens: 4 };
  await impl.one(prepared[0], warm);
  await impl.many(prepared.slice(0, 4), warm);
  const scenarios = {};
  const statsOf = () => (impl.stats ? { ...impl.stats } : null);
  const resetStats = () => {
    if (impl.stats) for (const k of Object.keys(impl.stats)) impl.stats[k] = 0;
  };
  const skipped = target.skip[args.impl]?.scenarios ?? [];
  const plan = [
    ['single', 1, count(target.single)],
    ['c16', 16, count(target.rounds16)],
    ['c64', 64, count(target.rounds64)],
  ];
  for (const [id, streams, rounds] of plan) {
    if (!args.scenarios.includes(id) || skipped.includes(id)) continue;
    resetStats();
    const r = await measured(() => scenario(impl, inputsOf, opts, streams, rounds));
    const s = statsOf();
    if (s !== null && s.decodeSteps > 0) {
      r.sessionRunMsPerDecodeStep = round3(s.decodeRunMs / s.decodeSteps);
      r.sessionRunShare = round3(s.runMs / r.wallMs);
    }
    scenarios[id] = r;
    process.stderr.write(`  ${id}: ${r.tokensPerSec} tokens/s, ttft p50 ${r.ttftMs.p50} ms\n`);
  }
  if (args.scenarios.includes('rss') && args.impl === 'hf-tasks') {
    const rssOpts = { maxNewTokens: target.rssMaxNewTokens, minNewTokens: target.rssMaxNewTokens };
    scenarios.rss = await rssScenario(impl, inputsOf, rssOpts, target, scale);
    scenarios.rss.maxNewTokens = target.rssMaxNewTokens;
  }
  const rssAfter = process.memoryUsage().rss;
  await impl.close();
  const result = {
    target: target.id,
    impl: args.impl,
    note: module.note,
    maxNewTokens: target.maxNewTokens,
    idleEventLoopDelayP99Ms: idle.eventLoopDelayP99Ms,
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

// ---------------------------------------------------------------------------- orchestration

function parseArgs(argv) {
  const args = {
    targets: null,
    impls: null,
    scenarios: SCENARIOS,
    readme: false,
    report: false,
    scale: 1,
    timeout: 600,
  };
  for (const a of argv) {
    const [k, v] = a.replace(/^--/, '').split('=');
    if (k === 'targets') args.targets = v.split(',');
    else if (k === 'impls') args.impls = v.split(',');
    else if (k === 'scenarios') args.scenarios = v.split(',');
    else if (k === 'readme') args.readme = true;
    else if (k === 'report') args.report = true;
    else if (k === 'scale') args.scale = Number(v);
    else if (k === 'timeout') args.timeout = Number(v);
    else throw new Error(`unknown option ${a}`);
  }
  return args;
}

function runChild(target, impl, args) {
  const out = path.join(
    os.tmpdir(),
    `hf-tasks-genbench-${process.pid}-${target}-${impl.replace('.', '')}.json`,
  );
  rmSync(out, { force: true });
  const arg = JSON.stringify({ target, impl, scenarios: args.scenarios, scale: args.scale, out });
  return new Promise((resolve) => {
    const proc = spawn(
      process.execPath,
      ['--import=tsx', '--expose-gc', path.join(HERE, 'generation.js'), `--child=${arg}`],
      {
        stdio: ['ignore', 'inherit', 'pipe'],
        env: { ...process.env, HF_HUB_OFFLINE: '1' },
      },
    );
    let stderr = '';
    proc.stderr.on('data', (d) => {
      stderr += d;
      process.stderr.write(d);
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), args.timeout * 1000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 && existsSync(out)) {
        resolve(JSON.parse(readFileSync(out, 'utf8')));
        rmSync(out, { force: true });
      } else {
        resolve({
          target,
          impl,
          error: stderr.trim().split('\n').slice(-6).join('\n') || `exit code ${code}`,
        });
      }
    });
  });
}

const fmt = (x, digits = 1) => (x === null || x === undefined ? '–' : Number(x).toFixed(digits));
const ratioOf = (a, b) => (a && b ? a / b : null);
const fmtRatio = (x) => (x === null ? '–' : `${x.toFixed(2)}×`);

/** Whether the generated ids of two implementations agree, prompt by prompt. */
function parity(results) {
  const ours = results.find((r) => r.impl === 'hf-tasks')?.scenarios?.single?.ids;
  const out = {};
  for (const r of results) {
    if (r.impl === 'hf-tasks' || ours === undefined) continue;
    const theirs = r.scenarios?.single?.ids;
    if (theirs === undefined) continue;
    const n = Math.min(ours.length, theirs.length);
    let same = 0;
    const firstDiff = [];
    for (let i = 0; i < n; i++) {
      const a = ours[i];
      const b = theirs[i];
      if (JSON.stringify(a) === JSON.stringify(b)) same++;
      else {
        let k = 0;
        while (k < a.length && a[k] === b[k]) k++;
        firstDiff.push({ prompt: i, at: k, ours: a.slice(k, k + 4), theirs: b.slice(k, k + 4) });
      }
    }
    out[r.impl] = { prompts: n, identical: same, firstDiff };
  }
  return out;
}

/** The figures and target ratios of one model. */
function figures(results) {
  const get = (impl) => results.find((r) => r.impl === impl && !r.error)?.scenarios ?? {};
  const ours = get('hf-tasks');
  const floor = get('floor');
  const tjs = get('transformers.js');
  return {
    vsFloor: ratioOf(ours.single?.tokensPerSec, floor.single?.tokensPerSec),
    // Median gaps between tokens resist the machine's load swings better than wall-time rates.
    vsFloorMedianGap: ratioOf(floor.single?.interTokenMs?.p50, ours.single?.interTokenMs?.p50),
    vsTransformersJs: ratioOf(ours.single?.tokensPerSec, tjs.single?.tokensPerSec),
    c16VsSingle: ratioOf(ours.c16?.tokensPerSec, ours.single?.tokensPerSec),
    c64VsSingle: ratioOf(ours.c64?.tokensPerSec, ours.single?.tokensPerSec),
    eventLoopP99Ms: Math.max(
      ...['single', 'c16', 'c64'].map((s) => ours[s]?.eventLoopDelayP99Ms ?? Number.NEGATIVE_INFINITY),
    ),
    rssGrowthPercent: ours.rss?.growthPercent ?? null,
  };
}

const TARGETS_TEXT = {
  vsFloor: '≥ 0.95×',
  vsTransformersJs: '≥ 1.2×',
  c16VsSingle: '≥ 4×',
  eventLoopP99Ms: '≤ 10 ms',
  rssGrowthPercent: 'flat',
};

function summaryTable(all) {
  const rows = [
    '| model (new tokens) | implementation | TTFT p50 ms | 1 stream tokens/s | 16 streams tokens/s | 64 streams tokens/s | inter-token p50 ms (1 stream) | event-loop p99 ms (1 · 16 · 64) |',
    '|---|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const [id, results] of Object.entries(all)) {
    for (const r of results) {
      const label = `${id} (${r.maxNewTokens ?? '–'})`;
      if (r.error) {
        rows.push(`| ${label} | ${r.impl} | failed | | | | | |`);
        continue;
      }
      const s = r.scenarios;
      rows.push(
        `| ${label} | ${r.impl} | ${fmt(s.single?.ttftMs?.p50, 1)} | ${fmt(s.single?.tokensPerSec, 1)} | ${fmt(s.c16?.tokensPerSec, 1)} | ${fmt(s.c64?.tokensPerSec, 1)} | ${fmt(s.single?.interTokenMs?.p50, 2)} | ${['single', 'c16', 'c64'].map((k) => fmt(s[k]?.eventLoopDelayP99Ms, 1)).join(' · ')} |`,
      );
    }
  }
  return rows.join('\n');
}

function ratioTable(all) {
  const rows = [
    '| model | 1 stream vs floor (≥ 0.95×) | same, from median inter-token gaps | 1 stream vs transformers.js (≥ 1.2×) | 16 streams vs 1 (≥ 4×) | 64 streams vs 1 | event-loop p99 (≤ 10 ms) | RSS growth (flat) |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const [id, results] of Object.entries(all)) {
    const f = figures(results);
    const rss = results.find((r) => r.impl === 'hf-tasks')?.scenarios?.rss;
    rows.push(
      `| ${id} | ${fmtRatio(f.vsFloor)} | ${fmtRatio(f.vsFloorMedianGap)} | ${fmtRatio(f.vsTransformersJs)} | ${fmtRatio(f.c16VsSingle)} | ${fmtRatio(f.c64VsSingle)} | ${Number.isFinite(f.eventLoopP99Ms) ? `${fmt(f.eventLoopP99Ms, 1)} ms` : '–'} | ${rss ? `${rss.rssAfterWarmupMB} → ${rss.rssAfterMB} MB (${rss.growthPercent >= 0 ? '+' : ''}${rss.growthPercent}%) over ${rss.generations} generations after ${rss.warmupGenerations}` : '–'} |`,
    );
  }
  return rows.join('\n');
}

function parityLines(all) {
  const lines = [];
  for (const [id, results] of Object.entries(all)) {
    for (const [impl, p] of Object.entries(parity(results))) {
      const diff = p.firstDiff
        .map((d) => `prompt ${d.prompt} from token ${d.at}: ${d.ours.join(',')} vs ${d.theirs.join(',')}`)
        .join('; ');
      lines.push(
        `- ${id}: hf-tasks and ${impl} generate the same ids on ${p.identical} of ${p.prompts} prompts${diff ? ` (differ: ${diff})` : ''}`,
      );
    }
  }
  return lines.join('\n');
}

/** Where the time goes: the network's share against everything around it. */
function timeLines(all) {
  const lines = [];
  for (const [id, results] of Object.entries(all)) {
    const get = (impl) => results.find((r) => r.impl === impl && !r.error)?.scenarios ?? {};
    const floor = get('floor');
    const ours = get('hf-tasks');
    const inline = get('hf-tasks-inline');
    const parts = [];
    for (const k of ['single', 'c16', 'c64']) {
      const f = floor[k];
      const o = ours[k];
      if (f === undefined || o === undefined) continue;
      const label = k === 'single' ? '1 stream' : `${k.slice(1)} streams`;
      parts.push(
        `${label}: floor ${fmt(f.sessionRunMsPerDecodeStep, 2)} ms per decode step in session.run (${fmt(f.interTokenMs.p50, 2)} ms between tokens, p50), hf-tasks ${fmt(o.interTokenMs.p50, 2)} ms between a stream's tokens (p50)` +
          (inline[k]
            ? `, inline ${fmt(inline[k].sessionRunMsPerDecodeStep, 2)} ms per decode step in session.run and ${fmt(100 * (1 - inline[k].sessionRunShare), 0)}% of the wall time outside session.run (${fmt(((1 - inline[k].sessionRunShare) * inline[k].wallMs) / (inline[k].tokens / inline[k].streams), 2)} ms per decode step)`
            : ''),
      );
    }
    if (parts.length > 0) lines.push(`- ${id}: ${parts.join('; ')}`);
    for (const r of results) {
      const t = generationTargets().find((x) => x.id === id);
      const skip = t?.skip?.[r.impl];
      if (skip) lines.push(`- ${id}: ${r.impl} ${skip.scenarios.join(', ')} not run: ${skip.why}`);
    }
  }
  return lines.join('\n');
}

function machineLine(host, loadAfter) {
  return `${host.cores} cores (${host.cpu}, ${host.simd.simd}, ${host.mhz} MHz), ${host.memoryGiB} GiB, Node ${host.node}, onnxruntime-node ${host.versions['onnxruntime-node']} (floor, hf-tasks), transformers.js ${host.versions['@huggingface/transformers']} with onnxruntime-node ${host.versions['onnxruntime-node (transformers.js)']}; load average before ${host.loadavg.join(' / ')}, after ${loadAfter.join(' / ')}`;
}

const METHOD = [
  'Same ONNX file, same prompts (8 short plain-text prompts, no chat template), greedy, exactly',
  'the stated number of new tokens per generation (`min_new_tokens` = `max_new_tokens`), each',
  'implementation in its own process, sessions with intra-op threads = all cores. floor: a raw',
  'onnxruntime-node loop feeding `present.*` back as `past_key_values.*`, argmax in JS; its 16/64',
  'streams are one static left-padded batch of 16/64 prompts decoded together (the best a raw',
  'loop can do knowing every request in advance). hf-tasks: `pipeline()` calls with an `onEvent`',
  'callback; 16/64 streams are 16/64 concurrent calls (continuous batching in the generation',
  'worker). transformers.js: its pipeline with a streamer; 16/64 streams are concurrent calls.',
  'TTFT: call start to the first token; tokens/s: generated tokens over wall time (prompt pass',
  'included; aggregate over all streams for 16/64); event-loop delay: `monitorEventLoopDelay` of',
  "the calling thread during each scenario; RSS: hf-tasks process RSS (the worker's included)",
  'after a warm-up and after more generations from concurrent callers.',
].join('\n');

function markdown(saved) {
  const { machine: host, loadAfter, results: all, date } = saved;
  const parts = [
    '# Generation benchmark results',
    '',
    `Run ${date} with \`node --import=tsx bench/generation.js${saved.args.scale !== 1 ? ` --scale=${saved.args.scale}` : ''}\`.`,
    '',
    `Machine: ${machineLine(host, loadAfter)}.`,
    '',
    METHOD,
    '',
    '## Figures',
    '',
    summaryTable(all),
    '',
    '## Ratios (hf-tasks)',
    '',
    ratioTable(all),
    '',
    '## Token parity',
    '',
    parityLines(all) || '- (no parity data)',
    '',
    '## Where the time goes',
    '',
    timeLines(all) || '- (no data)',
  ];
  for (const [id, results] of Object.entries(all)) {
    const t = generationTargets().find((x) => x.id === id);
    parts.push('', `## ${t?.title ?? id}`, '');
    for (const r of results) {
      if (r.error) {
        parts.push(`- ${r.impl}: failed: \`${r.error.split('\n').slice(-1)[0]}\``);
        continue;
      }
      const s = r.scenarios;
      const run = ['single', 'c16', 'c64']
        .filter((k) => s[k]?.sessionRunMsPerDecodeStep !== undefined)
        .map((k) => `${k}: ${s[k].sessionRunMsPerDecodeStep} ms per decode step in session.run`)
        .join(', ');
      parts.push(
        `- ${r.impl}: ${r.idleEventLoopDelayP99Ms !== undefined ? `idle event-loop p99 ${r.idleEventLoopDelayP99Ms} ms before loading; ` : ''}load ${r.loadMs} ms; RSS ${r.memory.rssLoadedMB} MB loaded, ${r.memory.rssAfterMB} MB after (max ${r.memory.maxRssMB} MB); ` +
          ['single', 'c16', 'c64']
            .filter((k) => s[k])
            .map(
              (k) =>
                `${k}: ${s[k].generations} generations, ${s[k].tokens} tokens in ${s[k].wallMs} ms, TTFT p50/p90 ${s[k].ttftMs.p50}/${s[k].ttftMs.p90} ms, inter-token p50/p90 ${s[k].interTokenMs.p50}/${s[k].interTokenMs.p90} ms, CPU ${s[k].cpuCores} cores, event-loop p99/max ${s[k].eventLoopDelayP99Ms}/${s[k].eventLoopDelayMaxMs} ms`,
            )
            .join('; ') +
          (run ? `; ${run}` : ''),
      );
    }
  }
  return `${parts.join('\n')}\n`;
}

function updateReadme(saved) {
  const file = path.join(ROOT, 'README.md');
  const text = readFileSync(file, 'utf8');
  const begin = '<!-- bench-generation:begin -->';
  const end = '<!-- bench-generation:end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) {
    console.error(
      'README.md has no <!-- bench-generation:begin --> ... <!-- bench-generation:end --> block; not updated',
    );
    return;
  }
  const block = [
    begin,
    `${saved.date}; ${machineLine(saved.machine, saved.loadAfter)}. Full tables in [bench/results/generation.md](bench/results/generation.md).`,
    '',
    summaryTable(saved.results),
    '',
    ratioTable(saved.results),
    '',
    parityLines(saved.results),
    timeLines(saved.results),
    end,
  ].join('\n');
  writeFileSync(file, text.slice(0, i) + block + text.slice(j + end.length));
}

async function main() {
  const argv = process.argv.slice(2);
  const childArg = argv.find((a) => a.startsWith('--child='));
  if (childArg) return child(JSON.parse(childArg.slice('--child='.length)));
  const args = parseArgs(argv);
  const dir = path.join(HERE, 'results');
  if (args.report) {
    const saved = JSON.parse(readFileSync(path.join(dir, 'generation.json'), 'utf8'));
    saved.figures = Object.fromEntries(Object.entries(saved.results).map(([id, rs]) => [id, figures(rs)]));
    writeFileSync(path.join(dir, 'generation.json'), `${JSON.stringify(saved, null, 2)}\n`);
    const md = markdown(saved);
    writeFileSync(path.join(dir, 'generation.md'), md);
    console.log(md);
    if (args.readme) updateReadme(saved);
    return;
  }
  const host = machine();
  const all = {};
  for (const t of generationTargets()) {
    if (args.targets !== null && !args.targets.includes(t.id)) continue;
    if (t.onnxFile === null) {
      console.error(
        `skipping ${t.id}: not on this machine (hf-tasks models fetch HuggingFaceTB/SmolLM2-135M-Instruct)`,
      );
      continue;
    }
    all[t.id] = [];
    for (const impl of args.impls ?? t.impls) {
      process.stderr.write(`${t.id} / ${impl}\n`);
      const r = await runChild(t.id, impl, args);
      if (r.error) process.stderr.write(`  failed\n${r.error}\n`);
      all[t.id].push(r);
    }
  }
  const loadAfter = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  mkdirSync(dir, { recursive: true });
  const figs = Object.fromEntries(Object.entries(all).map(([id, rs]) => [id, figures(rs)]));
  const parities = Object.fromEntries(Object.entries(all).map(([id, rs]) => [id, parity(rs)]));
  const saved = {
    date,
    args,
    machine: host,
    loadAfter,
    targets: TARGETS_TEXT,
    figures: figs,
    parity: parities,
    results: all,
  };
  writeFileSync(path.join(dir, 'generation.json'), `${JSON.stringify(saved, null, 2)}\n`);
  const md = markdown(saved);
  writeFileSync(path.join(dir, 'generation.md'), md);
  console.log(md);
  if (args.readme) updateReadme(saved);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err?.stack ?? String(err));
    process.exit(1);
  },
);

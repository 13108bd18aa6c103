/**
 * `npm run bench`: every available target on every implementation, side by side, one child
 * process each (bench/suite.js); results to bench/results/ as JSON and markdown, and with
 * `--readme` the summary table into the README's Benchmarks section.
 *
 *   node bench/run.js [--seconds=2] [--repeat=N] [--threads=N] [--targets=id,id] [--impls=floor,hf-tasks,...]
 *                     [--scenarios=latency,batch32,concurrent64,long] [--interleave] [--device=webgpu] [--readme]
 *   node bench/run.js --report [--device=webgpu] [--readme]   (re-render from bench/results/results[-webgpu].json)
 *
 * `--repeat=N`: runs every (target, implementation) process N times, the implementations in
 * alternating order, and reports each figure's median over the N runs (a shared machine's speed
 * drifts between processes; the ratios then compare like with like).
 * `--interleave`: one process per (target, scenario, implementation, repeat), the
 * implementations of each scenario run back to back, so that the figures a ratio compares were
 * taken seconds apart rather than minutes (more processes, each loading its model again).
 * `--device=webgpu`: every implementation on onnxruntime's WebGPU execution provider (the floor's
 * session, hf-tasks' `device`, transformers.js' `device`); results to results-webgpu.{json,md}
 * and the README's bench-webgpu block.
 * `--threads`: intra-op threads of the floor's and transformers.js's sessions (default: all
 * cores, their own default); hf-tasks uses its engine defaults.
 *
 * Needs the built package (`npm run build`) and, for the real models, `npm run models:fetch`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine } from './machine.js';
import { INLINE_SCENARIOS, targets } from './targets.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const IMPLS = ['floor', 'hf-tasks', 'hf-tasks-inline', 'transformers.js'];
const SCENARIO_TITLES = {
  latency: 'batch-1 latency (sequential single-text calls)',
  batch32: 'batch-32 throughput (one call with 32 texts)',
  concurrent64: '64 concurrent single-text callers',
  long: 'long inputs (~220 tokens, batch 1)',
};

function parseArgs(argv) {
  const args = {
    seconds: 2,
    repeat: 1,
    targets: null,
    scenarios: null,
    impls: IMPLS,
    readme: false,
    threads: null,
    report: false,
    interleave: false,
    device: 'cpu',
  };
  for (const a of argv) {
    const [k, v] = a.replace(/^--/, '').split('=');
    if (k === 'seconds') args.seconds = Number(v);
    else if (k === 'repeat') args.repeat = Math.max(1, Math.floor(Number(v)) || 1);
    else if (k === 'targets') args.targets = v.split(',');
    else if (k === 'scenarios') args.scenarios = v.split(',');
    else if (k === 'impls') args.impls = v.split(',');
    else if (k === 'readme') args.readme = true;
    else if (k === 'report') args.report = true;
    else if (k === 'interleave') args.interleave = true;
    else if (k === 'device') {
      if (v !== 'cpu' && v !== 'webgpu') throw new Error(`--device must be cpu or webgpu (got ${v})`);
      args.device = v;
    } else if (k === 'threads') args.threads = Number(v);
    else throw new Error(`unknown option ${a}`);
  }
  return args;
}

function runSuite(target, impl, seconds, threads, scenarios, device) {
  const out = path.join(os.tmpdir(), `hf-tasks-bench-${process.pid}-${target}-${impl}.json`);
  rmSync(out, { force: true });
  const arg = JSON.stringify({ target, impl, seconds, threads, scenarios, device, out });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(HERE, 'suite.js'), arg], {
      stdio: ['ignore', 'inherit', 'pipe'],
      env: { ...process.env, HF_HUB_OFFLINE: '1' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (code) => {
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

/** The median of numbers (the mean of the middle two for an even count). */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One result from the runs of one (target, implementation): every number its median. */
function medianOf(runs) {
  const ok = runs.filter((r) => !r.error);
  if (ok.length === 0) return runs[0];
  const merge = (values) => {
    const first = values[0];
    if (typeof first === 'number') return median(values.filter((v) => typeof v === 'number'));
    if (first === null || typeof first !== 'object' || Array.isArray(first)) return first;
    const out = {};
    for (const key of Object.keys(first)) out[key] = merge(values.map((v) => v?.[key]));
    return out;
  };
  return { ...merge(ok), runs: ok.length };
}

const fmt = (x, digits = 1) => (x === null || x === undefined ? '–' : Number(x).toFixed(digits));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '–');

function scenarioTable(results, scenario) {
  const rows = [];
  const floor = results.find((r) => r.impl === 'floor')?.scenarios?.[scenario];
  rows.push(
    '| implementation | p50 ms | p99 ms | sentences/s | tokens/s | vs floor | event-loop p99 ms | CPU cores busy | % fp32 peak |',
  );
  rows.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const s = r.scenarios?.[scenario];
    if (s === undefined) continue;
    const p50 = s.p50Ms ?? s.batchMeanMs;
    const p99 = s.p99Ms ?? null;
    rows.push(
      `| ${r.impl} | ${fmt(p50, 2)} | ${fmt(p99, 2)} | ${fmt(s.sentencesPerSec)} | ${fmt(s.tokensPerSec, 0)} | ${ratio(s.sentencesPerSec, floor?.sentencesPerSec)} | ${fmt(s.eventLoopDelayP99Ms, 1)} | ${fmt(s.cpuCores, 2)} | ${fmt(s.peakShare * 100, 1)} |`,
    );
  }
  return rows.join('\n');
}

function summaryTable(all) {
  const rows = [
    '| model / task | batch-1 p50 ms: floor · hf-tasks · transformers.js | overhead/call | batch-32 sentences/s: floor · hf-tasks · transformers.js | 64 concurrent sentences/s: floor · hf-tasks · transformers.js | event-loop p99 ms (64 concurrent): hf-tasks · transformers.js |',
    '|---|---|---:|---|---|---|',
  ];
  for (const [id, results] of Object.entries(all)) {
    const get = (impl, sc) => results.find((r) => r.impl === impl)?.scenarios?.[sc];
    const trio = (sc, key, digits) =>
      ['floor', 'hf-tasks', 'transformers.js'].map((i) => fmt(get(i, sc)?.[key], digits)).join(' · ');
    const floorP50 = get('floor', 'latency')?.p50Ms;
    const oursP50 = get('hf-tasks', 'latency')?.p50Ms;
    const overhead =
      floorP50 !== undefined && oursP50 !== undefined ? `${fmt(oursP50 - floorP50, 2)} ms` : '–';
    const hasBatch = results.some((r) => r.scenarios?.batch32);
    rows.push(
      `| ${id} | ${trio('latency', 'p50Ms', 2)} | ${overhead} | ${hasBatch ? trio('batch32', 'sentencesPerSec', 0) : 'n/a'} | ${trio('concurrent64', 'sentencesPerSec', 0)} | ${fmt(get('hf-tasks', 'concurrent64')?.eventLoopDelayP99Ms)} · ${fmt(get('transformers.js', 'concurrent64')?.eventLoopDelayP99Ms)} |`,
    );
  }
  return rows.join('\n');
}

const onCpu = (args) => (args.device ?? 'cpu') === 'cpu';

/** Where the networks ran, for a run on a device other than the CPU. */
function deviceOf(host, args) {
  return `onnxruntime's ${args.device} execution provider on ${host.gpu ?? 'no NVIDIA GPU (a Vulkan CPU driver such as lavapipe, if any)'}`;
}

function machineLines(host, loadAfter, args = {}) {
  return [
    ...(onCpu(args) ? [] : [`- device: ${deviceOf(host, args)}`]),
    `- CPU: ${host.cpu}, ${host.cores} cores at ${host.mhz} MHz, ${host.simd.simd} (fp32 peak ${fmt(host.peakGflops, 0)} GFLOP/s = cores × clock × ${host.simd.perCycle} FLOP/cycle, assuming ${host.simd.fmaUnits} FMA units per core)`,
    `- memory ${host.memoryGiB} GiB; ${host.os}; Node ${host.node}`,
    `- onnxruntime-node ${host.versions['onnxruntime-node']} (floor, hf-tasks); transformers.js ${host.versions['@huggingface/transformers']} with its own onnxruntime-node ${host.versions['onnxruntime-node (transformers.js)']}; benchmark.js ${host.versions.benchmark}`,
    `- load average before ${host.loadavg.join(' / ')}, after ${loadAfter.join(' / ')} (other work on the machine skews the numbers)`,
  ].join('\n');
}

function markdown(host, loadAfter, all, args, date) {
  const parts = [
    '# Benchmark results',
    '',
    `Run ${date} with \`node bench/run.js --seconds=${args.seconds}${(args.repeat ?? 1) > 1 ? ` --repeat=${args.repeat}` : ''}${args.interleave ? ' --interleave' : ''}${onCpu(args) ? '' : ` --device=${args.device}`}${args.threads ? ` --threads=${args.threads}` : ''}\`${(args.repeat ?? 1) > 1 ? ` (every figure the median of ${args.repeat} runs of each implementation's process, in alternating order${args.interleave ? '; one process per scenario, the implementations of a scenario back to back' : ''})` : ''}: floor and transformers.js sessions use ${args.threads ?? host.cores} intra-op thread(s); hf-tasks its engine defaults (${Math.min(4, host.cores)} worker(s) × ${Math.floor(host.cores / Math.min(4, host.cores))} thread(s)).`,
    '',
    machineLines(host, loadAfter, args),
    '',
    'Every implementation runs the same ONNX file on the same inputs, in its own process. floor: ' +
      'raw `session.run` on inputs tokenized beforehand (concurrent callers served as an ideal ' +
      'batcher knowing all inputs would: length-sorted batches of at most 32 rows cut at the least ' +
      'cost, padded tokens plus a fixed cost per run, as the engine cuts its queue); hf-tasks: `pipeline()` end to end on the default engine (worker pool + dynamic ' +
      'batching); hf-tasks-inline: `workers: 0`; transformers.js: its `pipeline()` on the same ' +
      'folder. Token classification runs without aggregation everywhere (transformers.js does not ' +
      'aggregate). sentences/s counts every sentence embedded (a similarity call embeds 4). ' +
      '% fp32 peak: real tokens × encoder FLOPs per token over the machine peak (the real models ' +
      'are int8/q4, so this is an fp32-equivalent share).',
    '',
    '## Summary',
    '',
    summaryTable(all),
  ];
  for (const [id, results] of Object.entries(all)) {
    const t = targets().find((x) => x.id === id);
    parts.push('', `## ${t?.title ?? id}`, '');
    for (const r of results) {
      if (r.error) parts.push(`- ${r.impl}: failed: \`${r.error.split('\n')[0]}\``);
      else
        parts.push(
          `- ${r.impl}: load ${r.loadMs} ms; RSS ${r.memory.rssBeforeMB} MB before, ${r.memory.rssLoadedMB} MB loaded, ${r.memory.rssAfterMB} MB after (max ${r.memory.maxRssMB} MB)`,
        );
    }
    for (const sc of Object.keys(SCENARIO_TITLES)) {
      if (!results.some((r) => r.scenarios?.[sc])) continue;
      parts.push('', `### ${SCENARIO_TITLES[sc]}`, '', scenarioTable(results, sc));
    }
  }
  return `${parts.join('\n')}\n`;
}

/** The results file stem of a run: `results`, or `results-webgpu` on the WebGPU provider. */
const stemOf = (args) => (onCpu(args) ? 'results' : `results-${args.device}`);

function updateReadme(summary, host, loadAfter, args, date) {
  const file = path.join(ROOT, 'README.md');
  const text = readFileSync(file, 'utf8');
  const tag = onCpu(args) ? 'bench' : `bench-${args.device}`;
  const begin = `<!-- ${tag}:begin -->`;
  const end = `<!-- ${tag}:end -->`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) {
    console.error(`README.md has no ${begin} ... ${end} block; not updated`);
    return;
  }
  const block = [
    begin,
    `${onCpu(args) ? '' : `${deviceOf(host, args)}; `}${host.cores} cores (${host.cpu}, ${host.simd.simd}), Node ${host.node}, ${date}; load average ${host.loadavg[0]} before and ${loadAfter[0]} after the run; floor and transformers.js sessions with ${args.threads ?? host.cores} intra-op thread(s)${(args.repeat ?? 1) > 1 ? `; every figure the median of ${args.repeat} runs${args.interleave ? ', each scenario in its own processes, the implementations back to back' : ''}` : ''}. Full tables in [bench/results/${stemOf(args)}.md](bench/results/${stemOf(args)}.md).`,
    '',
    summary,
    end,
  ].join('\n');
  writeFileSync(file, text.slice(0, i) + block + text.slice(j + end.length));
}

/** `--report`: render results.md (and the README block with `--readme`) from the last results.json. */
function report(args) {
  const dir = path.join(HERE, 'results');
  const saved = JSON.parse(readFileSync(path.join(dir, `${stemOf(args)}.json`), 'utf8'));
  const md = markdown(saved.machine, saved.loadAfter, saved.results, saved.args, saved.date);
  writeFileSync(path.join(dir, `${stemOf(args)}.md`), md);
  console.log(md);
  if (args.readme)
    updateReadme(summaryTable(saved.results), saved.machine, saved.loadAfter, saved.args, saved.date);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.report) return report(args);
  if (!existsSync(path.join(ROOT, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first');
  }
  const host = machine();
  const available = targets().filter(
    (t) => (args.targets === null || args.targets.includes(t.id)) && t.onnxFile,
  );
  for (const t of targets()) {
    if (!t.onnxFile)
      console.error(`skipping ${t.id}: ${t.model} is not on this machine (npm run models:fetch)`);
  }
  const all = {};
  const threads = args.threads ?? host.cores;
  const run = async (t, impl, rep, scenarios) => {
    const label = scenarios === null || !args.interleave ? '' : ` ${scenarios[0]}`;
    process.stderr.write(
      `${t.id}${label} / ${impl}${args.repeat > 1 ? ` (${rep + 1}/${args.repeat})` : ''} ... `,
    );
    const r = await runSuite(t.id, impl, args.seconds, threads, scenarios, args.device);
    process.stderr.write(r.error ? `failed\n${r.error}\n` : 'ok\n');
    return r;
  };
  for (const t of available) {
    const runs = new Map(args.impls.map((impl) => [impl, []]));
    if (args.interleave) {
      // Each repeat of each implementation is the union of its one-scenario processes.
      const scenarios = t.scenarios.filter((s) => args.scenarios === null || args.scenarios.includes(s));
      for (const impl of args.impls) for (let rep = 0; rep < args.repeat; rep++) runs.get(impl).push(null);
      for (const scenario of scenarios) {
        for (let rep = 0; rep < args.repeat; rep++) {
          const order = rep % 2 === 0 ? args.impls : [...args.impls].reverse();
          for (const impl of order) {
            if (impl === 'hf-tasks-inline' && !INLINE_SCENARIOS.has(scenario)) continue;
            const r = await run(t, impl, rep, [scenario]);
            const list = runs.get(impl);
            const prev = list[rep];
            if (prev === null || prev.error) list[rep] = r;
            else if (!r.error) prev.scenarios = { ...prev.scenarios, ...r.scenarios };
          }
        }
      }
      for (const impl of args.impls)
        runs.set(
          impl,
          runs.get(impl).filter((r) => r !== null),
        );
    } else {
      for (let rep = 0; rep < args.repeat; rep++) {
        const order = rep % 2 === 0 ? args.impls : [...args.impls].reverse();
        for (const impl of order) runs.get(impl).push(await run(t, impl, rep, args.scenarios));
      }
    }
    all[t.id] = args.impls
      .filter((impl) => runs.get(impl).length > 0)
      .map((impl) => medianOf(runs.get(impl)));
  }
  const loadAfter = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const dir = path.join(HERE, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, `${stemOf(args)}.json`),
    `${JSON.stringify({ date, args, machine: host, loadAfter, results: all }, null, 2)}\n`,
  );
  const md = markdown(host, loadAfter, all, args, date);
  writeFileSync(path.join(dir, `${stemOf(args)}.md`), md);
  console.log(md);
  if (args.readme) updateReadme(summaryTable(all), host, loadAfter, args, date);
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});

/**
 * `npm run bench:seq2seq`: encoder-decoder generation (summarization) on the same ONNX files in
 * three implementations, side by side, each in its own process (bench/impls/seq2seq-*.js):
 *   floor            raw onnxruntime-node loop: encoder once, merged decoder, caches fed back
 *   hf-tasks         pipeline('summarization') (generation worker, continuous batching)
 *   transformers.js  its pipeline('summarization') on the same files (greedy only: no beams)
 * Scenarios: greedy and 4 beams, 1 request at a time and 16 concurrent requests; the figure is
 * generated tokens/s (the returned sequence's tokens; beams count once, not per beam), the
 * median of several short passes. Passes rotate through the implementations (floor, hf-tasks,
 * transformers.js, floor, ...) so that the machine's load swings reach all of them alike.
 * Every generation makes exactly `maxNewTokens` tokens (`min_new_tokens` = `max_new_tokens`:
 * EOS masked until then), so that counts match across implementations.
 *
 * The models come from `.venv/bin/python scripts/bench/make_seq2seq_bench_model.py` (under
 * ~/.cache/hf-tasks/bench/seq2seq, or $HF_TASKS_BENCH_MODELS): the bart-tiny fixture with its
 * decoders merged, and a random-weight BART of bart-base size.
 *
 *   node --import=tsx bench/seq2seq.js [--targets=bart-tiny,bart-base-random]
 *     [--impls=floor,hf-tasks,transformers.js] [--passes=3] [--readme]
 *   node --import=tsx bench/seq2seq.js --report [--readme]   (re-render from seq2seq.json)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine } from './machine.js';
import { longTexts, shortTexts } from './texts.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const IMPLS = {
  floor: './impls/seq2seq-floor.js',
  'hf-tasks': './impls/seq2seq-ours.js',
  'transformers.js': './impls/seq2seq-transformersjs.js',
};
/** Scenario id, beams, concurrent requests. */
const SCENARIOS = [
  ['greedy-1', 1, 1],
  ['greedy-16', 1, 16],
  ['beams4-1', 4, 1],
  ['beams4-16', 4, 16],
];

function modelsDir() {
  return (
    process.env.HF_TASKS_BENCH_MODELS ?? path.join(os.homedir(), '.cache', 'hf-tasks', 'bench', 'seq2seq')
  );
}

/**
 * Targets: `texts` (8 inputs), `maxNewTokens`, `sequential` (one-request generations per pass),
 * `skip` (scenarios an implementation does not run, and why).
 */
export function seq2seqTargets() {
  const tjsSkip = { scenarios: ['beams4-1', 'beams4-16'], why: 'transformers.js has no beam search' };
  const list = [
    {
      id: 'bart-tiny',
      title:
        'bart-tiny fixture (BART, d_model 32, 2+2 layers, vocabulary 641; decoders merged into decoder_model_merged.onnx; 0.6 MB)',
      // Its learned position tables have 64 entries: inputs of 27-53 tokens.
      texts: shortTexts(8, 11, 6, 12),
      maxNewTokens: 24,
      sequential: 16,
      skip: { 'transformers.js': tjsSkip },
    },
    {
      id: 'bart-base-random',
      title:
        'random-weight BART of bart-base size (d_model 768, 6+6 layers, 12 heads, FFN 3072, vocabulary 50265; fp32, 0.87 GB)',
      // About 30 words: about 100 tokens with bart-tiny's small vocabulary.
      texts: longTexts(8, 30),
      maxNewTokens: 16,
      sequential: 2,
      skip: { 'transformers.js': tjsSkip },
    },
  ];
  return list.map((t) => {
    const dir = path.join(modelsDir(), t.id);
    const encoderFile = path.join(dir, 'encoder_model.onnx');
    const decoderFile = path.join(dir, 'decoder_model_merged.onnx');
    const ok = existsSync(encoderFile) && existsSync(decoderFile);
    return {
      ...t,
      dir,
      encoderFile: ok ? encoderFile : null,
      decoderFile: ok ? decoderFile : null,
      config: ok ? JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) : null,
    };
  });
}

const round1 = (x) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);

function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Child process: one pass of every scenario of one target on one implementation. */
async function child(args) {
  const target = seq2seqTargets().find((t) => t.id === args.target);
  if (target === undefined || target.encoderFile === null)
    throw new Error(`target ${args.target} is not available`);
  const host = machine();
  const module = await import(IMPLS[args.impl]);
  const tLoad = performance.now();
  const impl = await module.open(target, { threads: host.cores });
  const loadMs = Math.round(performance.now() - tLoad);
  // Inputs are prepared outside the timed regions (the floor takes token ids).
  const inputs = target.texts.map((t) => (impl.encode ? impl.encode(t) : t));
  const n = target.maxNewTokens;
  // Warm-up: greedy and beams, one request and a small batch.
  for (const numBeams of [1, 4]) {
    if (numBeams > 1 && target.skip[args.impl]?.scenarios.includes('beams4-1')) continue;
    const warm = { maxNewTokens: 4, minNewTokens: 4, numBeams };
    await impl.one(inputs[0], warm);
    await impl.many(inputs.slice(0, 4), warm);
  }
  const scenarios = {};
  const outputs = {};
  for (const [id, numBeams, concurrent] of SCENARIOS) {
    if (target.skip[args.impl]?.scenarios.includes(id)) continue;
    const opts = { maxNewTokens: n, minNewTokens: n, numBeams };
    const calls = concurrent === 1 ? target.sequential : 1;
    const results = [];
    const t0 = performance.now();
    for (let c = 0; c < calls; c++) {
      if (concurrent === 1) results.push(await impl.one(inputs[c % inputs.length], opts));
      else
        results.push(
          ...(await impl.many(
            Array.from({ length: concurrent }, (_, i) => inputs[i % inputs.length]),
            opts,
          )),
        );
    }
    const ms = performance.now() - t0;
    for (const r of results)
      if (r.ids !== null && r.ids.length !== n)
        throw new Error(`${args.impl} ${id}: ${r.ids.length} tokens generated, ${n} expected`);
    const tokens = results.length * n;
    scenarios[id] = {
      requests: results.length,
      tokens,
      ms: Math.round(ms),
      tokensPerSec: round1((tokens / ms) * 1000),
    };
    if (concurrent === 1) outputs[id] = results.slice(0, inputs.length);
    process.stderr.write(`  ${id}: ${scenarios[id].tokensPerSec} tokens/s\n`);
  }
  await impl.close();
  writeFileSync(
    args.out,
    JSON.stringify({
      loadMs,
      loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
      maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      scenarios,
      outputs,
    }),
  );
}

// ---------------------------------------------------------------------------- orchestration

function parseArgs(argv) {
  const args = { targets: null, impls: null, passes: 3, readme: false, report: false, timeout: 300 };
  for (const a of argv) {
    const [k, v] = a.replace(/^--/, '').split('=');
    if (k === 'targets') args.targets = v.split(',');
    else if (k === 'impls') args.impls = v.split(',');
    else if (k === 'passes') args.passes = Number(v);
    else if (k === 'readme') args.readme = true;
    else if (k === 'report') args.report = true;
    else if (k === 'timeout') args.timeout = Number(v);
    else throw new Error(`unknown option ${a}`);
  }
  return args;
}

function runChild(target, impl, args) {
  const out = path.join(
    os.tmpdir(),
    `hf-tasks-s2sbench-${process.pid}-${target}-${impl.replace('.', '')}.json`,
  );
  rmSync(out, { force: true });
  const arg = JSON.stringify({ target, impl, out });
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import=tsx', path.join(HERE, 'seq2seq.js'), `--child=${arg}`], {
      stdio: ['ignore', 'inherit', 'pipe'],
      env: { ...process.env, HF_HUB_OFFLINE: '1' },
    });
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
        resolve({ error: stderr.trim().split('\n').slice(-6).join('\n') || `exit code ${code}` });
      }
    });
  });
}

/** Passes of one implementation folded: per scenario the rates of every pass and their median. */
function fold(passes) {
  const ok = passes.filter((p) => !p.error);
  const out = { passes: passes.length, failed: passes.length - ok.length, scenarios: {} };
  if (ok.length === 0) return { ...out, error: passes[0]?.error ?? 'not run' };
  out.loadMs = median(ok.map((p) => p.loadMs));
  out.maxRssMB = Math.max(...ok.map((p) => p.maxRssMB));
  for (const [id] of SCENARIOS) {
    const rates = ok.map((p) => p.scenarios[id]?.tokensPerSec).filter((x) => x !== undefined);
    if (rates.length === 0) continue;
    const s = ok[0].scenarios[id];
    out.scenarios[id] = {
      requests: s.requests,
      tokens: s.tokens,
      tokensPerSec: round1(median(rates)),
      rates,
    };
  }
  out.outputs = ok[0].outputs;
  return out;
}

/** Same ids (greedy) or the same text (beams) for every one-request input, against hf-tasks. */
function parity(results) {
  const ours = results['hf-tasks']?.outputs;
  const out = {};
  if (ours === undefined) return out;
  for (const [impl, r] of Object.entries(results)) {
    if (impl === 'hf-tasks' || r.outputs === undefined) continue;
    for (const id of ['greedy-1', 'beams4-1']) {
      const a = ours[id];
      const b = r.outputs[id];
      if (a === undefined || b === undefined) continue;
      const k = Math.min(a.length, b.length);
      let same = 0;
      const differ = [];
      for (let i = 0; i < k; i++) {
        const byIds = a[i].ids !== null && b[i].ids !== null;
        if (byIds ? JSON.stringify(a[i].ids) === JSON.stringify(b[i].ids) : a[i].text === b[i].text) same++;
        else if (byIds) {
          let at = 0;
          while (a[i].ids[at] === b[i].ids[at]) at++;
          differ.push(`input ${i} from token ${at}`);
        } else differ.push(`input ${i}`);
      }
      out[`${impl} ${id}`] = {
        inputs: k,
        identical: same,
        by: id.startsWith('greedy') ? 'ids' : 'text',
        differ,
      };
    }
  }
  return out;
}

function ratios(results) {
  const rate = (impl, id) => results[impl]?.scenarios?.[id]?.tokensPerSec ?? null;
  const ratio = (a, b) => (a && b ? Math.round((a / b) * 100) / 100 : null);
  return Object.fromEntries(
    SCENARIOS.map(([id]) => [
      id,
      {
        vsFloor: ratio(rate('hf-tasks', id), rate('floor', id)),
        vsTransformersJs: ratio(rate('hf-tasks', id), rate('transformers.js', id)),
      },
    ]),
  );
}

const fmt = (x) => (x === null || x === undefined ? '–' : Number(x).toFixed(1));
const fmtRatio = (x) => (x === null || x === undefined ? '–' : `${x.toFixed(2)}×`);

function table(saved) {
  const rows = [
    '| model (new tokens) | implementation | greedy, 1 request | greedy, 16 concurrent | 4 beams, 1 request | 4 beams, 16 concurrent |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const [id, results] of Object.entries(saved.results)) {
    const t = saved.targets[id];
    for (const [impl, r] of Object.entries(results)) {
      const cells = SCENARIOS.map(([s]) => (r.error ? 'failed' : fmt(r.scenarios[s]?.tokensPerSec)));
      rows.push(`| ${id} (${t.maxNewTokens}) | ${impl} | ${cells.join(' | ')} |`);
    }
    const q = saved.ratios[id];
    rows.push(
      `| ${id} | hf-tasks vs floor | ${SCENARIOS.map(([s]) => fmtRatio(q[s].vsFloor)).join(' | ')} |`,
      `| ${id} | hf-tasks vs transformers.js | ${SCENARIOS.map(([s]) => fmtRatio(q[s].vsTransformersJs)).join(' | ')} |`,
    );
  }
  return rows.join('\n');
}

function parityLines(saved) {
  const lines = [];
  for (const [id, p] of Object.entries(saved.parity))
    for (const [k, v] of Object.entries(p))
      lines.push(
        `- ${id}: hf-tasks and ${k}: the same ${v.by} on ${v.identical} of ${v.inputs} inputs${v.differ.length > 0 ? ` (differ: ${v.differ.join(', ')})` : ''}`,
      );
  return lines.join('\n');
}

function machineLine(saved) {
  const h = saved.machine;
  const loads = saved.loads.map((l) => l[0]);
  return `${h.cores} cores (${h.cpu}, ${h.simd.simd}), Node ${h.node}, onnxruntime-node ${h.versions['onnxruntime-node']} (floor, hf-tasks), transformers.js ${h.versions['@huggingface/transformers']} with onnxruntime-node ${h.versions['onnxruntime-node (transformers.js)']}; 1-minute load average ${Math.min(...loads)}–${Math.max(...loads)} during the run (median ${median(loads)})`;
}

const METHOD = [
  'Generated tokens/s (sum over requests of the returned sequence, beams counted once) over wall',
  'time, encoder pass and tokenization included; the median of the passes (each pass a fresh',
  'process per implementation, passes rotating through the implementations). Every generation',
  'makes exactly the stated number of new tokens (`min_new_tokens` = `max_new_tokens`); all',
  'sessions use intra-op threads = all cores; the same encoder_model.onnx and',
  'decoder_model_merged.onnx everywhere. 1 request: sequential calls; 16 concurrent: 16 calls at',
  "once (hf-tasks batches them in its worker; transformers.js runs them interleaved; the floor's",
  'are one static batch). Beams: `num_beams` 4 with no length penalty, no early stop needed (EOS',
  "masked until the last token); the floor's beam search is a plain top-4-by-score loop with",
  'cache rows gathered per step, a cost floor rather than the reference rules.',
].join('\n');

function markdown(saved) {
  const parts = [
    '# Encoder-decoder generation benchmark results',
    '',
    `Run ${saved.date} with \`node --import=tsx bench/seq2seq.js --passes=${saved.args.passes}\` (${Math.round(saved.seconds / 60)} minutes).`,
    '',
    `Machine: ${machineLine(saved)}.`,
    '',
    METHOD,
    '',
    '## Tokens/s (median of passes)',
    '',
    table(saved),
    '',
    '## Parity',
    '',
    parityLines(saved) || '- (no parity data)',
    '',
    '## Models and passes',
    '',
  ];
  for (const [id, results] of Object.entries(saved.results)) {
    const t = saved.targets[id];
    parts.push(
      `- ${id}: ${t.title}; ${t.texts} inputs of ${t.inputTokens} tokens; ${t.maxNewTokens} new tokens`,
    );
    for (const [impl, r] of Object.entries(results)) {
      if (r.error) {
        parts.push(`  - ${impl}: failed: \`${r.error.split('\n').slice(-1)[0]}\``);
        continue;
      }
      const s = SCENARIOS.filter(([k]) => r.scenarios[k])
        .map(([k]) => `${k} ${r.scenarios[k].rates.join(' / ')} (${r.scenarios[k].requests} requests)`)
        .join('; ');
      parts.push(`  - ${impl}: load ${r.loadMs} ms, max RSS ${r.maxRssMB} MB; tokens/s per pass: ${s}`);
    }
    for (const [impl, skip] of Object.entries(t.skip ?? {}))
      parts.push(`  - ${impl}: ${skip.scenarios.join(', ')} not run: ${skip.why}`);
  }
  return `${parts.join('\n')}\n`;
}

function updateReadme(saved) {
  const file = path.join(ROOT, 'README.md');
  const text = readFileSync(file, 'utf8');
  const begin = '<!-- bench-seq2seq:begin -->';
  const end = '<!-- bench-seq2seq:end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) {
    console.error(
      'README.md has no <!-- bench-seq2seq:begin --> ... <!-- bench-seq2seq:end --> block; not updated',
    );
    return;
  }
  const block = [
    begin,
    `${saved.date}; ${machineLine(saved)}. Full tables in [bench/results/seq2seq.md](bench/results/seq2seq.md).`,
    '',
    table(saved),
    '',
    parityLines(saved),
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
    const saved = JSON.parse(readFileSync(path.join(dir, 'seq2seq.json'), 'utf8'));
    const md = markdown(saved);
    writeFileSync(path.join(dir, 'seq2seq.md'), md);
    console.log(md);
    if (args.readme) updateReadme(saved);
    return;
  }
  const host = machine();
  const loads = [os.loadavg().map((x) => Math.round(x * 100) / 100)];
  const targets = {};
  const passes = {};
  const t0 = performance.now();
  for (const t of seq2seqTargets()) {
    if (args.targets !== null && !args.targets.includes(t.id)) continue;
    if (t.encoderFile === null) {
      console.error(`skipping ${t.id}: run .venv/bin/python scripts/bench/make_seq2seq_bench_model.py first`);
      continue;
    }
    const { Tokenizer } = await import('../ts/tokenizer.js');
    const tok = Tokenizer.fromFile(t.dir);
    const lengths = t.texts.map((x) => tok.encode(x).inputIds.length);
    targets[t.id] = {
      title: t.title,
      maxNewTokens: t.maxNewTokens,
      texts: t.texts.length,
      inputTokens: `${Math.min(...lengths)}–${Math.max(...lengths)}`,
      sequential: t.sequential,
      skip: t.skip,
    };
    const impls = (args.impls ?? Object.keys(IMPLS)).filter((i) => IMPLS[i] !== undefined);
    passes[t.id] = Object.fromEntries(impls.map((i) => [i, []]));
    for (let p = 0; p < args.passes; p++) {
      for (const impl of impls) {
        process.stderr.write(`${t.id} / ${impl} (pass ${p + 1} of ${args.passes})\n`);
        const r = await runChild(t.id, impl, args);
        if (r.error) process.stderr.write(`  failed\n${r.error}\n`);
        else loads.push(r.loadavg);
        passes[t.id][impl].push(r);
      }
    }
  }
  const results = Object.fromEntries(
    Object.entries(passes).map(([id, byImpl]) => [
      id,
      Object.fromEntries(Object.entries(byImpl).map(([impl, ps]) => [impl, fold(ps)])),
    ]),
  );
  const saved = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    args,
    seconds: Math.round((performance.now() - t0) / 1000),
    machine: host,
    loads,
    targets,
    ratios: Object.fromEntries(Object.entries(results).map(([id, r]) => [id, ratios(r)])),
    parity: Object.fromEntries(Object.entries(results).map(([id, r]) => [id, parity(r)])),
    results,
  };
  // The generated outputs served the parity check; the saved results keep the figures only.
  for (const byImpl of Object.values(results)) for (const r of Object.values(byImpl)) delete r.outputs;
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'seq2seq.json'), `${JSON.stringify(saved, null, 2)}\n`);
  const md = markdown(saved);
  writeFileSync(path.join(dir, 'seq2seq.md'), md);
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

/**
 * What the benchmark runs: each target is one model + task, located on disk (HF cache for the
 * real models provisioned by `npm run models:fetch`, test fixtures for the tiny ones), with the
 * ONNX file every implementation loads and the scenarios that apply to it.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

function hubCache() {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  if (process.env.HF_HOME) return path.join(process.env.HF_HOME, 'hub');
  return path.join(os.homedir(), '.cache', 'huggingface', 'hub');
}

/** A model made by a scripts/bench/ script (never committed), or null when it was not made. */
function benchModelDir(name) {
  const base = process.env.HF_TASKS_BENCH_MODELS ?? path.join(os.homedir(), '.cache', 'hf-tasks', 'bench');
  const dir = path.join(base, name);
  return existsSync(dir) ? dir : null;
}

/** The snapshot folder of a hub model in the standard cache layout, or null when absent. */
function snapshotDir(modelId) {
  const repo = path.join(hubCache(), `models--${modelId.replace('/', '--')}`);
  const ref = path.join(repo, 'refs', 'main');
  if (!existsSync(ref)) return null;
  const dir = path.join(repo, 'snapshots', readFileSync(ref, 'utf8').trim());
  return existsSync(dir) ? dir : null;
}

const ALL = ['latency', 'batch32', 'concurrent64', 'long'];

/** Scenarios the inline variant runs (it exists to show the event-loop cost of running inline). */
export const INLINE_SCENARIOS = new Set(['latency', 'concurrent64']);

/** Every target; `dir` is null when the model is not on this machine. */
export function targets() {
  const list = [
    {
      id: 'minilm-feature-extraction',
      title: 'all-MiniLM-L6-v2, feature-extraction (int8 ONNX)',
      task: 'feature-extraction',
      kind: 'embed',
      model: 'sentence-transformers/all-MiniLM-L6-v2',
      dir: snapshotDir('sentence-transformers/all-MiniLM-L6-v2'),
      onnx: 'onnx/model_int8.onnx',
      dtype: 'int8',
      maxLength: 256,
      longWords: 170,
      scenarios: ALL,
    },
    {
      id: 'minilm-sentence-similarity',
      title: 'all-MiniLM-L6-v2, sentence-similarity (int8 ONNX; 1 source + 3 sentences a call)',
      task: 'sentence-similarity',
      kind: 'similarity',
      model: 'sentence-transformers/all-MiniLM-L6-v2',
      dir: snapshotDir('sentence-transformers/all-MiniLM-L6-v2'),
      onnx: 'onnx/model_int8.onnx',
      dtype: 'int8',
      maxLength: 256,
      scenarios: ['latency', 'concurrent64'],
    },
    {
      id: 'rampart-token-classification',
      title: 'rampart PII NER (BERT 6 layers), token-classification (q4 ONNX)',
      task: 'token-classification',
      kind: 'ner',
      model: 'nationaldesignstudio/rampart',
      dir: snapshotDir('nationaldesignstudio/rampart'),
      onnx: 'onnx/model_q4.onnx',
      dtype: 'q4',
      maxLength: 512,
      longWords: 170,
      scenarios: ALL,
    },
    {
      id: 'bert-base-random',
      title:
        'BERT-base size (12 layers, hidden 768, random weights; scripts/bench/make_bert_base_bench_model.py), feature-extraction (fp32 ONNX)',
      task: 'feature-extraction',
      kind: 'embed',
      model: 'bert-base (random weights)',
      dir: benchModelDir('bert-base'),
      onnx: 'model.onnx',
      dtype: 'fp32',
      maxLength: 512,
      longWords: 170,
      scenarios: ['latency', 'batch32', 'concurrent64', 'long'],
    },
    {
      id: 'tiny-bert-ner',
      title: 'tiny fixture bert-ner (2 layers, hidden 32), token-classification (fp32)',
      task: 'token-classification',
      kind: 'ner',
      model: 'test/fixtures/models/bert-ner',
      dir: path.join(ROOT, 'test/fixtures/models/bert-ner'),
      onnx: 'model.onnx',
      dtype: 'fp32',
      maxLength: 64,
      scenarios: ['latency', 'batch32', 'concurrent64'],
    },
    {
      id: 'tiny-st-encoder',
      title: 'tiny fixture st-encoder (2 layers, hidden 32), feature-extraction (fp32)',
      task: 'feature-extraction',
      kind: 'embed',
      model: 'test/fixtures/models/st-encoder',
      dir: path.join(ROOT, 'test/fixtures/models/st-encoder'),
      onnx: 'model.onnx',
      dtype: 'fp32',
      maxLength: 48,
      scenarios: ['latency', 'batch32', 'concurrent64'],
    },
  ];
  return list.map((t) => {
    const onnxFile = t.dir === null ? null : path.join(t.dir, t.onnx);
    const present = onnxFile !== null && existsSync(onnxFile);
    let config = null;
    if (present) config = JSON.parse(readFileSync(path.join(t.dir, 'config.json'), 'utf8'));
    return { ...t, onnxFile: present ? onnxFile : null, config };
  });
}

/**
 * fp32-equivalent FLOPs one token costs in a BERT encoder at sequence length `seq`: the
 * projections and feed-forward (2 x weights) plus the attention scores and mix (4 x seq x hidden)
 * in every layer. Embedding lookups and the head are ignored.
 */
export function flopsPerToken(config, seq) {
  const h = config.hidden_size;
  const inter = config.intermediate_size;
  const layers = config.num_hidden_layers;
  return layers * (2 * (4 * h * h + 2 * h * inter) + 4 * seq * h);
}

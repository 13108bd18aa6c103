/**
 * Integrity of the generated fixtures the parity tests stand on: every tiny model folder is
 * complete and small, every golden case names an existing model and carries exactly one of
 * `output` / `error`, and the properties other tests rely on (label2id file order, windows,
 * sentence-transformers layout) hold.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { fixtures, type GoldenFile, loadGoldens, modelDir } from './goldens.js';

const TASKS = [
  'token-classification',
  'text-classification',
  'fill-mask',
  'question-answering',
  'zero-shot-classification',
  'feature-extraction',
  'sentence-similarity',
];
const MODEL_FILES = [
  'config.json',
  'model.onnx',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

function folderSize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? folderSize(p) : statSync(p).size;
  }
  return total;
}

const models = readdirSync(path.join(fixtures, 'models')).sort();
/** Decoder fixtures (text generation) carry a generation_config.json; the rest are encoders. */
const isDecoder = (name: string): boolean => readdirSync(modelDir(name)).includes('generation_config.json');
/** Audio and vision fixtures carry a preprocessor_config.json and are checked by their own tests. */
const hasPreprocessor = (name: string): boolean =>
  readdirSync(modelDir(name)).includes('preprocessor_config.json');
/** Encoder-decoder fixtures (text2text) hold an encoder_model.onnx, at the top or under onnx/. */
const isSeq2Seq = (name: string): boolean =>
  ['encoder_model.onnx', path.join('onnx', 'encoder_model.onnx')].some(
    (f) => statSync(path.join(modelDir(name), f), { throwIfNoEntry: false })?.isFile() ?? false,
  );
/** TAPAS fixtures (a WordPiece vocab.txt for the table tokenizer) are checked by the table QA tests. */
const isTapas = (name: string): boolean =>
  readJson(path.join(modelDir(name), 'config.json')).model_type === 'tapas';
/** Decoder-only embedders and classifiers (no generation config, a decoder architecture). */
const isDecoderHead = (name: string): boolean =>
  !isDecoder(name) &&
  ['qwen2', 'qwen3', 'llama', 'mistral', 'gemma', 'gpt2'].includes(
    readJson(path.join(modelDir(name), 'config.json')).model_type as string,
  );
const encoders = models.filter(
  (m) => !isDecoder(m) && !hasPreprocessor(m) && !isTapas(m) && !isDecoderHead(m),
);
const decoders = models.filter((m) => isDecoder(m) && !hasPreprocessor(m) && !isSeq2Seq(m));
const seq2seq = models.filter((m) => isSeq2Seq(m) && !hasPreprocessor(m));

test('every tiny encoder folder is complete, under 1 MiB, with a 64-token window that fits its positions', (t) => {
  t.true(encoders.length >= 15);
  for (const name of encoders) {
    const dir = modelDir(name);
    // A `-fp16` folder holds its network as model_fp16.onnx (make_fp16_goldens.py).
    const files = name.endsWith('-fp16')
      ? MODEL_FILES.map((f) => (f === 'model.onnx' ? 'model_fp16.onnx' : f))
      : MODEL_FILES;
    for (const f of files) t.true(statSync(path.join(dir, f)).isFile(), `${name}/${f}`);
    t.true(folderSize(dir) < 1024 * 1024, `${name} is too large`);
    const config = readJson(path.join(dir, 'config.json'));
    const tokenizerConfig = readJson(path.join(dir, 'tokenizer_config.json'));
    t.is(tokenizerConfig.model_max_length, 64, name);
    t.true((config.max_position_embeddings as number) >= 66, name);
  }
});

test('every tiny decoder-only embedder or classifier folder is complete and under 1 MiB', (t) => {
  const heads = models.filter(isDecoderHead);
  t.deepEqual(heads, ['gpt2-cls-nopad', 'gpt2-nli-nullpad', 'llama-nli-padmismatch', 'qwen2-embed-tiny']);
  for (const name of heads) {
    const dir = modelDir(name);
    for (const f of MODEL_FILES) t.true(statSync(path.join(dir, f)).isFile(), `${name}/${f}`);
    t.true(folderSize(dir) < 1024 * 1024, `${name} is too large`);
  }
});

test('every tiny decoder folder is complete, under 1 MiB, with a context length', (t) => {
  t.true(decoders.length >= 5);
  for (const name of decoders) {
    const dir = modelDir(name);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'])
      t.true(statSync(path.join(dir, f)).isFile(), `${name}/${f}`);
    const graphs = ['model.onnx', path.join('onnx', 'decoder_model_merged.onnx')].filter((f) =>
      statSync(path.join(dir, f), { throwIfNoEntry: false })?.isFile(),
    );
    t.is(graphs.length, 1, `${name}: one decoder graph`);
    t.true(folderSize(dir) < 1024 * 1024, `${name} is too large`);
    const config = readJson(path.join(dir, 'config.json'));
    const context = (config.max_position_embeddings ?? config.n_positions) as number;
    t.true(Number.isInteger(context) && context > 0, `${name}: a context length`);
  }
});

test('every tiny encoder-decoder folder is complete, under 1 MiB, with one decoder layout', (t) => {
  t.deepEqual(seq2seq, [
    'bart-tiny',
    'm2m100-spm-tiny',
    'marian-spm-tiny',
    'marian-tiny',
    'mbart-tiny',
    't5-tiny',
  ]);
  for (const name of seq2seq) {
    const dir = modelDir(name);
    // The -spm fixtures ship the slow tokenizer's files, as opus-mt and m2m100 exports do.
    const slow: Record<string, string[]> = {
      'marian-spm-tiny': ['source.spm', 'target.spm', 'vocab.json'],
      'm2m100-spm-tiny': ['sentencepiece.bpe.model', 'vocab.json'],
    };
    const tokenizer = slow[name] ?? ['tokenizer.json'];
    for (const f of ['config.json', 'generation_config.json', 'tokenizer_config.json', ...tokenizer])
      t.true(statSync(path.join(dir, f)).isFile(), `${name}/${f}`);
    const has = (f: string) =>
      ['', 'onnx'].some((sub) => statSync(path.join(dir, sub, f), { throwIfNoEntry: false })?.isFile());
    const merged = has('decoder_model_merged.onnx');
    const split = has('decoder_model.onnx') && has('decoder_with_past_model.onnx');
    t.true(merged !== split, `${name}: exactly one decoder layout`);
    t.true(folderSize(dir) < 1024 * 1024, `${name} is too large`);
  }
});

test('sentence-transformers folders list modules whose paths exist', (t) => {
  for (const name of ['st-encoder', 'st-encoder-cls']) {
    const dir = modelDir(name);
    const modules = JSON.parse(readFileSync(path.join(dir, 'modules.json'), 'utf8')) as { path: string }[];
    for (const m of modules) t.true(statSync(path.join(dir, m.path)).isDirectory(), `${name}: ${m.path}`);
    t.true(statSync(path.join(dir, 'sentence_bert_config.json')).isFile());
    t.true(statSync(path.join(dir, '1_Pooling', 'config.json')).isFile());
  }
  const prompts = readJson(path.join(modelDir('st-encoder'), 'config_sentence_transformers.json')).prompts;
  t.like(prompts, { query: 'query: ', passage: 'passage: ' });
});

test('bert-nli stores label2id in a file order that differs from the ids', (t) => {
  const config = readJson(path.join(modelDir('bert-nli'), 'config.json'));
  const label2id = config.label2id as Record<string, number>;
  t.deepEqual(Object.keys(label2id), ['entailment', 'contradiction', 'neutral']);
  t.is(label2id.entailment, 1);
  t.is((config.id2label as Record<string, string>)['1'], 'entailment');
});

function checkCases(t: import('ava').ExecutionContext, file: GoldenFile, task: string): void {
  t.is(file.task, task);
  t.is(file.reference?.transformers, '4.57.3');
  t.true(file.cases.length > 0);
  const ids = new Set<string>();
  for (const c of file.cases) {
    t.false(ids.has(c.id), `duplicate id ${c.id}`);
    ids.add(c.id);
    t.true(models.includes(c.model), `${c.id}: unknown model ${c.model}`);
    t.not('output' in c, 'error' in c, `${c.id}: needs exactly one of output and error`);
    if (c.error) t.true(c.error.type.length > 0 && c.error.message.length > 0, c.id);
  }
}

for (const task of TASKS) {
  test(`goldens/${task}.json: unique ids, known models, output xor error`, (t) => {
    checkCases(t, loadGoldens(task), task);
  });
}

test('goldens cover successes and reference errors for every task', (t) => {
  for (const task of TASKS) {
    const cases = loadGoldens(task).cases;
    t.true(
      cases.some((c) => 'output' in c),
      task,
    );
    t.true(
      cases.some((c) => 'error' in c),
      task,
    );
  }
});

test('goldens/real-models.json names hub ids, revisions and ONNX files', (t) => {
  const file = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'real-models.json'), 'utf8')) as {
    cases: { id: string; task: string; model: string; revision: string; file: string; output: unknown }[];
  };
  t.true(file.cases.length > 0);
  for (const c of file.cases) {
    t.regex(c.model, /^[\w.-]+\/[\w.-]+$/, c.id);
    t.regex(c.revision, /^[0-9a-f]{40}$/, c.id);
    t.regex(c.file, /\.onnx$/, c.id);
    t.true(TASKS.includes(c.task), c.id);
    t.not(c.output, undefined, c.id);
  }
});

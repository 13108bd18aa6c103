/**
 * A decoder-only embedder (Qwen2, Qwen3-Embedding style: last-token pooling, EOS appended by the
 * tokenizer, left padding, a query prompt) whose optimum export takes `position_ids`: embeddings,
 * token states and similarities against the torch references of
 * scripts/fixtures/make_decoder_embedder.py, one call at a time, as a list and as concurrent calls.
 */
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { pipeline } from '../../ts/index.js';
import { modelDir } from './goldens.js';

interface Case {
  task: 'feature-extraction' | 'plain-feature-extraction' | 'sentence-similarity';
  inputs: unknown;
  parameters: Record<string, unknown>;
  output: unknown;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const goldens = JSON.parse(
  readFileSync(path.join(here, '..', 'fixtures', 'goldens', 'decoder-embedding.json'), 'utf8'),
) as { model: string; cases: Case[] };
const TOLERANCE = 1e-4;

/** Largest difference between two nested number lists of the same shape (Infinity when not). */
function maxDiff(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return Number.POSITIVE_INFINITY;
  return a.reduce((m: number, x, i) => Math.max(m, maxDiff(x, b[i])), 0);
}

const dir = modelDir(goldens.model);
const embedCases = goldens.cases.filter((c) => c.task !== 'plain-feature-extraction');

for (const workers of [0, 2]) {
  const mode = workers === 0 ? 'inline' : `${workers} workers`;
  test(`qwen2-embed-tiny (${mode}): the torch references, alone, listed and concurrent`, async (t) => {
    const st = await pipeline('feature-extraction', dir, { workers });
    const sim = await pipeline('sentence-similarity', dir, { workers });
    const run = (c: Case) =>
      c.task === 'sentence-similarity'
        ? sim(c.inputs as never, c.parameters as never)
        : st(c.inputs as never, c.parameters as never);
    let worst = 0;
    for (const c of embedCases) {
      const d = maxDiff(await run(c), c.output);
      worst = Math.max(worst, d);
      t.true(d <= TOLERANCE, `${c.task} ${JSON.stringify(c.inputs)} ${JSON.stringify(c.parameters)}: ${d}`);
    }
    const all = await Promise.all(embedCases.map(run));
    for (const [i, out] of all.entries()) {
      t.true(maxDiff(out, embedCases[i]?.output) <= TOLERANCE, `concurrent ${i}`);
    }
    const plain = embedCases.filter(
      (c) => c.task === 'feature-extraction' && Object.keys(c.parameters).length === 0,
    );
    const listed = (await st(plain.map((c) => c.inputs) as never)) as unknown as unknown[];
    for (const [i, c] of plain.entries()) t.true(maxDiff(listed[i], c.output) <= TOLERANCE, `listed ${i}`);
    t.log(`largest difference ${worst.toExponential(2)}`);
    await st.dispose();
    await sim.dispose();
  });
}

test('qwen2-embed-tiny without its sentence-transformers files: the token states of the plain model', async (t) => {
  const plainDir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-plain-'));
  for (const f of [
    'config.json',
    'model.onnx',
    'tokenizer.json',
    'tokenizer_config.json',
    'special_tokens_map.json',
  ])
    copyFileSync(path.join(dir, f), path.join(plainDir, f));
  const pipe = await pipeline('feature-extraction', plainDir);
  const cases = goldens.cases.filter((c) => c.task === 'plain-feature-extraction');
  t.true(cases.length >= 5);
  const outs = await Promise.all(cases.map((c) => pipe(c.inputs as never)));
  cases.forEach((c, i) => {
    const d = maxDiff(outs[i], c.output);
    t.true(d <= TOLERANCE, `${JSON.stringify(c.inputs)}: ${d}`);
  });
  await pipe.dispose();
});

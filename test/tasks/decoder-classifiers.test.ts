/**
 * Decoder-only sequence classifiers whose padding decides their answer (they classify the last
 * token that is not config.json's `pad_token_id`): a tokenizer without a pad token, no
 * `pad_token_id` at all, and a config pad id that is not the tokenizer's. Text classification and
 * zero-shot classification against the references of scripts/fixtures/make_decoder_classifiers.py,
 * one call at a time, as lists and as concurrent calls (which the engine may stack).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { pipeline } from '../../ts/index.js';
import { modelDir } from './goldens.js';

interface Case {
  model: string;
  task: 'text-classification' | 'zero-shot-classification';
  inputs: string;
  parameters: Record<string, unknown>;
  output: unknown;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const goldens = JSON.parse(
  readFileSync(path.join(here, '..', 'fixtures', 'goldens', 'decoder-classifiers.json'), 'utf8'),
) as { cases: Case[] };
const TOLERANCE = 1e-4;

/** Problems between an output and its golden: labels and order exact, scores within 1e-4. */
function problems(got: unknown, want: unknown): string[] {
  const out: string[] = [];
  if (Array.isArray(want)) {
    const g = got as { label: string; score: number }[];
    const w = want as { label: string; score: number }[];
    if (!Array.isArray(g) || g.length !== w.length) return [`length ${JSON.stringify(got)}`];
    w.forEach((x, i) => {
      if (g[i]?.label !== x.label) out.push(`[${i}] label ${g[i]?.label} != ${x.label}`);
      if (!(Math.abs((g[i]?.score ?? Number.NaN) - x.score) <= TOLERANCE)) out.push(`[${i}] score`);
    });
    return out;
  }
  const g = got as { labels: string[]; scores: number[] };
  const w = want as { labels: string[]; scores: number[] };
  if (JSON.stringify(g.labels) !== JSON.stringify(w.labels)) out.push(`labels ${g.labels} != ${w.labels}`);
  w.scores.forEach((s, i) => {
    if (!(Math.abs((g.scores[i] ?? Number.NaN) - s) <= TOLERANCE)) out.push(`score ${i}`);
  });
  return out;
}

const models = [...new Set(goldens.cases.map((c) => c.model))];

for (const model of models) {
  test(`${model}: the reference answers alone, as a list and under concurrent calls`, async (t) => {
    const cases = goldens.cases.filter((c) => c.model === model);
    const pipes = {
      'text-classification': await pipeline('text-classification', modelDir(model)),
      'zero-shot-classification': await pipeline('zero-shot-classification', modelDir(model)),
    };
    const run = (c: Case): Promise<unknown> =>
      c.task === 'text-classification'
        ? pipes['text-classification'](c.inputs, c.parameters as never)
        : pipes['zero-shot-classification'](c.inputs, c.parameters as never);
    for (const c of cases) {
      const p = problems(await run(c), c.output);
      t.deepEqual(p, [], `${c.task} ${c.inputs} ${JSON.stringify(c.parameters)}`);
    }
    const together = await Promise.all(cases.map(run));
    for (const [i, c] of cases.entries()) t.deepEqual(problems(together[i], c.output), [], `concurrent ${i}`);
    const plain = cases.filter((c) => c.task === 'text-classification');
    const listed = (await pipes['text-classification'](
      plain.map((c) => c.inputs) as never,
      { top_k: null } as never,
    )) as unknown as unknown[];
    for (const [i, c] of plain.entries()) t.deepEqual(problems(listed[i], c.output), [], `listed ${i}`);
    await pipes['text-classification'].dispose();
    await pipes['zero-shot-classification'].dispose();
  });
}

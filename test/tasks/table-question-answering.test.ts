import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InvalidInputError, InvalidParameterError, pipeline } from '../../ts/index.js';
import { assertGolden, fixtures, PipeCache } from './goldens.js';

// Goldens: scripts/fixtures/make_tapas_goldens.py (transformers 4.57.3 TableQuestionAnsweringPipeline
// on the same model.onnx files).
interface TableCase {
  table: Record<string, string[]>;
  query: string | string[];
  params: Record<string, unknown>;
  output: unknown;
}
const golden = JSON.parse(
  readFileSync(path.join(fixtures, 'goldens', 'table-question-answering.json'), 'utf8'),
) as {
  models: Record<string, TableCase[]>;
  variants: Record<string, { base: string; config: Record<string, unknown>; cases: TableCase[] }>;
};

const pipes = new PipeCache('table-question-answering');
test.after.always(() => pipes.dispose());

for (const [model, cases] of Object.entries(golden.models)) {
  for (const [i, c] of cases.entries()) {
    const label = typeof c.query === 'string' ? c.query : c.query.join(' / ');
    test(`${model} #${i}: ${label} ${JSON.stringify(c.params)}`, async (t) => {
      const pipe = await pipes.get(model);
      const out = await pipe({ table: c.table, query: c.query }, c.params);
      assertGolden(t, out, c.output, 0);
    });
  }
}

// Variants: a fixture copied with config.json edited, as make_tapas_goldens.py edits it.
for (const [name, v] of Object.entries(golden.variants)) {
  test(`${name}: the reference answers with config.json edited (${JSON.stringify(v.config)})`, async (t) => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-tapas-')), name);
    cpSync(path.join(fixtures, 'models', v.base), dir, { recursive: true });
    const configFile = path.join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({ ...JSON.parse(readFileSync(configFile, 'utf8')), ...v.config }),
    );
    const pipe = await pipeline('table-question-answering', dir);
    t.true(v.cases.length >= 10);
    for (const c of v.cases) {
      const out = await pipe({ table: c.table, query: c.query }, c.params as never);
      assertGolden(t, out, c.output, 0);
    }
    await pipe.dispose();
  });
}

test('an aggregation index config.json does not name fails the call, as the reference does', async (t) => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-tapas-')), 'tapas-wtq');
  cpSync(path.join(fixtures, 'models', 'tapas-wtq'), dir, { recursive: true });
  const configFile = path.join(dir, 'config.json');
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  writeFileSync(configFile, JSON.stringify({ ...config, aggregation_labels: { 99: 'NOWHERE' } }));
  const pipe = await pipeline('table-question-answering', dir);
  const err = await t.throwsAsync(pipe({ table: seedTable, query: 'How many stars?' }));
  t.is((err as { code?: string }).code, 'ERR_MODEL_RUN');
  t.regex(err?.message ?? '', /aggregation_labels does not name/);
  await pipe.dispose();
});

test('golden files cover both models, sequential mode and several queries', (t) => {
  t.true((golden.models['tapas-wtq']?.length ?? 0) >= 10);
  t.true((golden.models['tapas-sqa']?.length ?? 0) >= 10);
  const all = Object.values(golden.models).flat();
  t.true(all.some((c) => c.params.sequential === true));
  t.true(all.some((c) => Array.isArray(c.output)));
  // the aggregation model answers with an aggregator, the other without
  t.true(golden.models['tapas-wtq']?.every((c) => JSON.stringify(c.output).includes('"aggregator"')));
  t.false(golden.models['tapas-sqa']?.some((c) => JSON.stringify(c.output).includes('"aggregator"')));
});

const seedTable = {
  Repository: ['Transformers', 'Datasets', 'Tokenizers'],
  Stars: ['36542', '4512', '3934'],
  Contributors: ['651', '77', '34'],
  'Programming language': ['Python', 'Python', 'Rust, Python and NodeJS'],
};

test('the seed example answers in the documented shape; `question` works like `query`', async (t) => {
  const pipe = await pipes.get('tapas-wtq');
  const query = 'How many stars does the transformers repository have?';
  const out = (await pipe({ table: seedTable, query })) as unknown as Record<string, unknown>;
  t.deepEqual(Object.keys(out), ['answer', 'coordinates', 'cells', 'aggregator']);
  t.is(typeof out.answer, 'string');
  t.true(Array.isArray(out.coordinates));
  for (const c of out.coordinates as unknown[]) t.true(Array.isArray(c) && c.length === 2);
  t.deepEqual(await pipe({ table: seedTable, question: query }), out);
  // a list of one query answers with one object, as the reference does
  t.deepEqual(await pipe({ table: seedTable, query: [query] }), out);
});

test('bad tables and queries are 400s with the reference messages', async (t) => {
  const pipe = await pipes.get('tapas-wtq');
  const bad = async (inputs: unknown, message: string | RegExp) => {
    const err = await t.throwsAsync(pipe(inputs as never), { instanceOf: InvalidInputError });
    if (typeof message === 'string') t.is(err?.message, message);
    else t.regex(err?.message ?? '', message);
  };
  await bad({ table: {}, query: 'q' }, 'table is empty');
  await bad({ table: { a: [] }, query: 'q' }, 'table is empty');
  await bad({ table: seedTable, query: '' }, 'query is empty');
  await bad({ table: seedTable }, 'query is empty');
  await bad({ table: seedTable, query: [] }, 'query is empty');
  await bad(
    { table: { a: ['1', '2'], b: ['x'] }, query: 'q' },
    'All rows in the table must be the same length',
  );
  await bad({ table: { a: ['1', 2] }, query: 'q' }, /table cells must be strings/);
  await bad({ table: { a: 'x' }, query: 'q' }, /must be a list of cells/);
  await bad({ query: 'q' }, 'Keyword argument `table` cannot be None.');
  await bad({ table: null, query: 'q' }, 'Table cannot be None.');
  await bad('a table?', /must be an object/);
  await bad({ table: seedTable, query: [1] }, /must be a string/);
  await bad({ table: { a: ['\ud800'] }, query: 'q' }, /lone UTF-16 surrogate/);
  await t.throwsAsync(pipe({ table: seedTable, query: 'q' }, { truncation: 'longest_first' as never }), {
    instanceOf: InvalidParameterError,
  });
  await t.throwsAsync(pipe({ table: seedTable, query: 'q' }, { sequential: 'yes' as never }), {
    instanceOf: InvalidParameterError,
  });
});

test('a table too long for the model drops rows (default) and answers inside the kept rows', async (t) => {
  const pipe = await pipes.get('tapas-sqa');
  const rows = 200;
  const table = {
    name: Array.from({ length: rows }, (_, i) => `player number ${i}`),
    score: Array.from({ length: rows }, (_, i) => String(i * 3)),
  };
  const out = (await pipe({ table, query: 'what is the score of player number 5?' })) as {
    coordinates: [number, number][];
  };
  // 128 tokens hold far fewer than 200 rows
  for (const [row] of out.coordinates) t.true(row < 40);
});

test('unicode, empty and odd cells do not break the tokenizer', async (t) => {
  const pipe = await pipes.get('tapas-sqa');
  const table = {
    'ΟΔΟΣ 🎉': ['', '  ', 'n/a', '[EMPTY]', '東京', 'a'.repeat(300)],
    n: ['1e400', '-inf', 'nan', '١٢', '½', '29 february 1900'],
  };
  const out = (await pipe({ table, query: 'what? 🎉 ١٢' })) as { cells: string[]; coordinates: number[][] };
  t.is(out.cells.length, out.coordinates.length);
});

/**
 * Table question answering through the server: `/models/{id}`, `/pipeline/table-question-answering/{id}`,
 * the official `@huggingface/inference` client's `tableQuestionAnswering` unchanged, and bad
 * input as 400s. Answers are checked against the transformers 4.57.3 goldens
 * (scripts/fixtures/make_tapas_goldens.py).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { InferenceClient, InferenceClientProviderOutputError } from '@huggingface/inference';
import test from 'ava';
import { fixtureModel, post, root, startTestServer, type TestServer } from './helpers.js';

interface TableCase {
  table: Record<string, string[]>;
  query: string | string[];
  params: Record<string, unknown>;
  output: unknown;
}
const golden = JSON.parse(
  readFileSync(path.join(root, 'test', 'fixtures', 'goldens', 'table-question-answering.json'), 'utf8'),
) as { models: Record<string, TableCase[]> };
const single = (model: string): TableCase[] =>
  (golden.models[model] ?? []).filter(
    (c) => typeof c.query === 'string' && Object.keys(c.params).length === 0,
  );

let srv: TestServer;

test.before(async () => {
  srv = await startTestServer({
    models: [
      { id: 'test/tapas-wtq', path: fixtureModel('tapas-wtq'), tasks: ['table-question-answering'] },
      { id: 'test/tapas-sqa', path: fixtureModel('tapas-sqa'), tasks: ['table-question-answering'] },
    ],
  });
});

test.after.always(async () => {
  await srv?.close();
});

test('POST /models/{id} and /pipeline/table-question-answering/{id} answer as the reference', async (t) => {
  const cases = single('tapas-wtq');
  t.true(cases.length >= 5);
  for (const c of cases) {
    for (const route of ['/models/test/tapas-wtq', '/pipeline/table-question-answering/test/tapas-wtq']) {
      const res = await post(`${srv.url}${route}`, { inputs: { table: c.table, query: c.query } });
      t.is(res.status, 200, res.text);
      t.deepEqual(res.body, c.output, `${route} ${c.query}`);
    }
  }
  const multi = golden.models['tapas-sqa']?.find((c) => c.params.sequential === true);
  if (multi === undefined) return t.fail('no sequential golden');
  const res = await post(`${srv.url}/models/test/tapas-sqa`, {
    inputs: { table: multi.table, question: multi.query },
    parameters: multi.params,
  });
  t.is(res.status, 200, res.text);
  t.deepEqual(res.body, multi.output);
});

test('@huggingface/inference tableQuestionAnswering reads our answer unchanged', async (t) => {
  const sent: unknown[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    sent.push(JSON.parse(String(init?.body)));
    return fetch(input, init);
  };
  const client = new InferenceClient(undefined, {
    endpointUrl: `${srv.url}/models/test/tapas-wtq`,
    fetch: recordingFetch,
  });
  for (const c of single('tapas-wtq')) {
    const out = await client.tableQuestionAnswering({
      inputs: { table: c.table, question: c.query as string },
    });
    t.deepEqual(out, c.output as typeof out);
  }
  // the client's types name it `question` (the newer spec); the server takes `query` and `question`
  t.deepEqual(sent[0], {
    inputs: { table: single('tapas-wtq')[0]?.table, question: single('tapas-wtq')[0]?.query },
  });
});

test('@huggingface/inference tableQuestionAnswering rejects answers without an aggregator (no aggregation head)', async (t) => {
  // As with the live API on such models (SQA): the answer has no `aggregator`, which this client requires.
  const c = single('tapas-sqa')[0];
  if (c === undefined) return t.fail('no golden');
  const client = new InferenceClient(undefined, { endpointUrl: `${srv.url}/models/test/tapas-sqa` });
  await t.throwsAsync(
    client.tableQuestionAnswering({ inputs: { table: c.table, question: c.query as string } }),
    {
      instanceOf: InferenceClientProviderOutputError,
    },
  );
  const raw = await post(`${srv.url}/models/test/tapas-sqa`, { inputs: { table: c.table, query: c.query } });
  t.deepEqual(raw.body, c.output);
});

test('bad tables and queries are 400 {"error"}', async (t) => {
  const url = `${srv.url}/models/test/tapas-wtq`;
  const cases: [unknown, string][] = [
    [{ table: {}, query: 'q' }, 'table is empty'],
    [{ table: { a: ['1'] }, query: '' }, 'query is empty'],
    [{ table: { a: ['1', '2'], b: ['3'] }, query: 'q' }, 'All rows in the table must be the same length'],
  ];
  for (const [inputs, message] of cases) {
    const res = await post(url, { inputs });
    t.is(res.status, 400);
    t.is((res.body as { error: string }).error, message);
  }
  const numeric = await post(url, { inputs: { table: { a: [1, 2] }, query: 'q' } });
  t.is(numeric.status, 400);
  t.regex((numeric.body as { error: string }).error, /table cells must be strings/);
  const param = await post(url, { inputs: { table: { a: ['1'] }, query: 'q' }, parameters: { padding: 3 } });
  t.is(param.status, 400);
});

test('the CLI answers a {inputs, parameters} body like the pipeline', async (t) => {
  const c = single('tapas-wtq')[0];
  if (c === undefined) return t.fail('no golden');
  const body = JSON.stringify({ inputs: { table: c.table, query: c.query } });
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(root, 'ts', 'cli.ts'),
      'run',
      'table-question-answering',
      fixtureModel('tapas-wtq'),
      body,
    ],
    { cwd: root },
  );
  t.deepEqual(JSON.parse(stdout), c.output);
});

/**
 * Limits on the work of one request (inputs, tokens, zero-shot candidate labels) answer 413
 * before any work starts, naming the limit and the flag that raises it; the request deadline
 * answers 504 and stops the request's further network runs.
 */
import test from 'ava';
import { Batcher, type JobExecutor } from '../../ts/runtime/batcher.js';
import type { ModelRunner, TensorLike } from '../../ts/runtime/runner.js';
import { withDeadline } from '../../ts/server/deadline.js';
import { HttpError } from '../../ts/server/errors.js';
import { defaultLoader, resolveConfig } from '../../ts/server/index.js';
import type { ServedPipe } from '../../ts/server/registry.js';
import { SharedRunners } from '../../ts/server/runners.js';
import {
  FIXTURE_MODELS,
  fixtureModel,
  get,
  metricValue,
  post,
  startTestServer,
  type TestServer,
} from './helpers.js';

let srv: TestServer;

test.before(async () => {
  srv = await startTestServer({ maxInputs: 4, maxCandidateLabels: 3, maxInputTokens: 40 });
});

test.after.always(async () => {
  await srv?.close();
});

async function inferences(model: string): Promise<number> {
  const m = await get(`${srv.url}/metrics`);
  return metricValue(m.text, 'hf_tasks_inference_duration_seconds_count', { model });
}

const texts = (n: number) => Array.from({ length: n }, (_, i) => `text ${i}`);

test('too many inputs is a 413 naming the limit and its flag, on every route, before any work', async (t) => {
  const before = await inferences('test/st-encoder');
  const cases: Array<[string, unknown]> = [
    ['/models/test/bert-ner', { inputs: texts(5) }],
    ['/pipeline/feature-extraction/test/st-encoder', { inputs: texts(5) }],
    ['/models/test/st-encoder', { inputs: { source_sentence: 'a', sentences: texts(5) } }],
    ['/embed', { inputs: texts(5) }],
    ['/v1/embeddings', { input: texts(5) }],
    ['/rerank', { model: 'test/bert-cross-encoder', query: 'q', texts: texts(5) }],
    ['/predict', { model: 'test/bert-sentiment', inputs: texts(5).map((x) => [x]) }],
    ['/tokenize', { inputs: texts(5) }],
  ];
  for (const [route, body] of cases) {
    const res = await post(`${srv.url}${route}`, body);
    t.is(res.status, 413, route);
    t.regex(res.text, /5 inputs/, route);
    t.regex(res.text, /at most 4/, route);
    t.regex(res.text, /--max-inputs/, route);
  }
  // At the limit the same routes work.
  t.is((await post(`${srv.url}/embed`, { inputs: texts(4) })).status, 200);
  t.is((await post(`${srv.url}/models/test/bert-ner`, { inputs: texts(4) })).status, 200);
  t.is(await inferences('test/st-encoder'), before + 1);
});

test('the error bodies keep each route dialect', async (t) => {
  const tei = await post(`${srv.url}/embed`, { inputs: texts(9) });
  t.is((tei.body as { error_type: string }).error_type, 'Validation');
  const openai = await post(`${srv.url}/v1/embeddings`, { input: texts(9) });
  t.is((openai.body as { error: { type: string } }).error.type, 'invalid_request_error');
  const hf = await post(`${srv.url}/models/test/bert-ner`, { inputs: texts(9) });
  t.is(typeof (hf.body as { error: string }).error, 'string');
});

test('too many candidate labels is a 413 naming --max-candidate-labels', async (t) => {
  const url = `${srv.url}/models/test/bert-nli`;
  const before = await inferences('test/bert-nli');
  const list = await post(url, { inputs: 'hi', parameters: { candidate_labels: ['a', 'b', 'c', 'd'] } });
  t.is(list.status, 413);
  t.regex(list.text, /4 candidate labels.*at most 3.*--max-candidate-labels/);
  const csv = await post(url, { inputs: 'hi', parameters: { candidate_labels: 'a, b, c, d' } });
  t.is(csv.status, 413);
  t.is(await inferences('test/bert-nli'), before);
  const ok = await post(url, { inputs: 'hi', parameters: { candidate_labels: ['a', 'b', 'c'] } });
  t.is(ok.status, 200);
});

test('too many input tokens is a 413 naming --max-input-tokens; zero-shot counts premise tokens per label', async (t) => {
  const before = await inferences('test/bert-ner');
  const long = 'word '.repeat(60);
  const res = await post(`${srv.url}/models/test/bert-ner`, { inputs: long });
  t.is(res.status, 413);
  t.regex(res.text, /input tokens.*at most 40.*--max-input-tokens/);
  t.is(await inferences('test/bert-ner'), before);
  // 15 premise tokens pass alone, but not times 3 labels.
  const premise = 'word '.repeat(13).trim();
  const nli = `${srv.url}/models/test/bert-nli`;
  t.is((await post(nli, { inputs: premise, parameters: { candidate_labels: ['a'] } })).status, 200);
  const three = await post(nli, { inputs: premise, parameters: { candidate_labels: ['a', 'b', 'c'] } });
  t.is(three.status, 413);
  t.regex(three.text, /x 3 candidate labels/);
});

test('a 10,000-text request is refused at once with the default limits', async (t) => {
  const def = await startTestServer();
  try {
    const started = performance.now();
    const res = await post(`${def.url}/embed`, { inputs: texts(10_000) });
    t.is(res.status, 413);
    t.regex(res.text, /10000 inputs.*at most 32/);
    t.true(performance.now() - started < 2000);
  } finally {
    await def.close();
  }
});

test('a request over its deadline is answered 504 naming --request-timeout', async (t) => {
  let calls = 0;
  const slow = async (task: string, _source: string, modelId: string): Promise<ServedPipe> => {
    const pipe = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 1500));
      return [];
    };
    return Object.assign(pipe, { task, model: modelId, dispose: async () => undefined });
  };
  const s = await startTestServer({ requestTimeout: 0.2 }, { loader: slow });
  try {
    const started = performance.now();
    const res = await post(`${s.url}/models/test/bert-ner`, { inputs: 'slow' });
    const ms = performance.now() - started;
    t.is(res.status, 504);
    t.regex(res.text, /0\.2 s.*--request-timeout/);
    t.true(ms >= 190 && ms < 1400, `${ms} ms`);
    t.is(calls, 1);
  } finally {
    await s.close();
  }
});

function fakeRunner(log: { runs: number; disposed: number }, ms: number): ModelRunner {
  return {
    inputNames: ['input_ids'],
    outputNames: ['out'],
    parallelism: 2,
    async run(feeds: Record<string, TensorLike>) {
      log.runs++;
      await new Promise((r) => setTimeout(r, ms));
      return feeds;
    },
    async dispose() {
      log.disposed++;
    },
  };
}

const feeds = { input_ids: { type: 'int64' as const, data: new BigInt64Array([1n]), dims: [1, 1] } };

test('past the deadline a request starts no further network run', async (t) => {
  const log = { runs: 0, disposed: 0 };
  const runners = new SharedRunners(async () => fakeRunner(log, 20));
  const runner = await runners.acquire('/m.onnx', {});
  const err = await t.throwsAsync(
    withDeadline(0.1, async () => {
      for (let i = 0; i < 50; i++) await runner.run(feeds);
    }),
  );
  t.true(err instanceof HttpError && err.status === 504);
  await new Promise((r) => setTimeout(r, 150));
  t.true(log.runs <= 7, `${log.runs} runs`);
  // Outside a deadline the runner still works.
  await runner.run(feeds);
  await runner.dispose();
});

test('pipelines of one model file share one runner, freed with its last user', async (t) => {
  const log = { runs: 0, disposed: 0 };
  let opened = 0;
  const runners = new SharedRunners<{ padTokenId?: number }>(async () => {
    opened++;
    await new Promise((r) => setTimeout(r, 10));
    return fakeRunner(log, 1);
  });
  const [a, b] = await Promise.all([
    runners.acquire('/m.onnx', { padTokenId: 0 }),
    runners.acquire('/m.onnx', { padTokenId: 0 }),
  ]);
  const other = await runners.acquire('/m.onnx', { padTokenId: 1 });
  t.is(opened, 2, 'same file and options: one runner; other options: another');
  t.is(runners.size, 2);
  t.is(a.parallelism, 2);
  t.deepEqual(a.inputNames, ['input_ids']);
  await a.dispose();
  await a.dispose();
  t.is(log.disposed, 0);
  await t.throwsAsync(a.run(feeds), { message: /disposed/ });
  await b.run(feeds);
  await b.dispose();
  t.is(log.disposed, 1);
  await other.dispose();
  t.is(log.disposed, 2);
  t.is(runners.size, 0);
  // A failed open is not kept: the next acquire tries again.
  let fail = true;
  const flaky = new SharedRunners(async () => {
    if (fail) throw new Error('boom');
    return fakeRunner(log, 1);
  });
  await t.throwsAsync(flaky.acquire('/x.onnx', {}), { message: 'boom' });
  fail = false;
  const ok = await flaky.acquire('/x.onnx', {});
  t.is(flaky.size, 1);
  await ok.dispose();
  t.is(flaky.size, 0);
});

test('the server opens one runner per model file: feature-extraction and sentence-similarity share it', async (t) => {
  const config = resolveConfig({ models: FIXTURE_MODELS });
  const loader = defaultLoader(config);
  const s = await startTestServer({}, { loader });
  try {
    // Five models, six pipelines (st-encoder serves two tasks), five runners.
    t.is(
      FIXTURE_MODELS.reduce((n, m) => n + m.tasks.length, 0),
      6,
    );
    t.is(loader.openRunners(), FIXTURE_MODELS.length);
    const fe = await post(`${s.url}/pipeline/feature-extraction/test/st-encoder`, { inputs: 'shared' });
    const ss = await post(`${s.url}/models/test/st-encoder`, {
      inputs: { source_sentence: 'shared', sentences: ['shared'] },
    });
    t.is(fe.status, 200);
    t.is(ss.status, 200);
    t.true(Math.abs(((ss.body as number[])[0] as number) - 1) < 1e-5);
  } finally {
    await s.close();
  }
  t.is(loader.openRunners(), 0, 'closing the server frees every runner');
});

test('a decoder serving text-generation and conversational opens one generation engine', async (t) => {
  const models = [
    { id: 'test/qwen2-tiny', path: fixtureModel('qwen2-tiny'), tasks: ['text-generation', 'conversational'] },
  ];
  const loader = defaultLoader(resolveConfig({ models }));
  const s = await startTestServer({ models }, { loader });
  try {
    t.is(loader.openRunners(), 1);
    const parameters = { max_new_tokens: 4, do_sample: false };
    const gen = await post(`${s.url}/models/test/qwen2-tiny`, {
      inputs: [{ role: 'user', content: 'hi' }],
      parameters,
    });
    const conv = await post(`${s.url}/pipeline/conversational/test/qwen2-tiny`, {
      inputs: { text: 'hi', past_user_inputs: [], generated_responses: [] },
      parameters,
    });
    t.is(gen.status, 200);
    t.is(conv.status, 200);
    // Both tasks ran on the one engine and answer the same chat alike.
    const messages = (gen.body as Array<{ generated_text: Array<{ content: string }> }>)[0]?.generated_text;
    t.is((conv.body as { generated_text: string }).generated_text, messages?.at(-1)?.content ?? '');
    // By the model's own route, the legacy conversational input picks that task.
    const byModel = await post(`${s.url}/models/test/qwen2-tiny`, {
      inputs: { text: 'hi', past_user_inputs: [], generated_responses: [] },
      parameters,
    });
    t.deepEqual(byModel.body, conv.body);
  } finally {
    await s.close();
  }
  t.is(loader.openRunners(), 0, 'closing the server frees the engine');
});

test('an aborted call still queued in the engine is dropped; a running one finishes', async (t) => {
  const seen: number[] = [];
  const executor: JobExecutor = {
    concurrency: 1,
    async execute(job) {
      const data = job.parts[0]?.feeds.input_ids?.data as BigInt64Array | undefined;
      const id = Number(data?.[0] ?? -1n);
      seen.push(id);
      await new Promise((r) => setTimeout(r, 50));
      return job.parts.map((p) => p.feeds);
    },
  };
  const batcher = new Batcher(executor, null);
  const call = (id: number, signal?: AbortSignal) =>
    batcher.submit(
      { input_ids: { type: 'int64', data: new BigInt64Array([BigInt(id)]), dims: [1, 1] } },
      signal ? { signal } : {},
    );
  const controller = new AbortController();
  const running = call(1, controller.signal);
  const queued = call(2, controller.signal);
  const other = call(3);
  await new Promise((r) => setTimeout(r, 10));
  const reason = new Error('deadline');
  controller.abort(reason);
  await t.notThrowsAsync(running, 'the call already running settles normally');
  t.is(await queued.catch((e: unknown) => e), reason);
  await other;
  t.deepEqual(seen, [1, 3], 'the aborted queued call never ran');
  const already = new AbortController();
  already.abort(reason);
  t.is(await call(4, already.signal).catch((e: unknown) => e), reason);
  t.deepEqual(seen, [1, 3]);
});

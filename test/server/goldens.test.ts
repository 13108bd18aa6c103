/**
 * Parity over HTTP: every reference golden of every served task, sent as an Inference API
 * request (`{inputs, parameters}` to `/pipeline/{task}/{model}`), must come back as the
 * reference output (text classification of one input wrapped in the live API's outer list),
 * and every reference error as a 400. Then the default configuration (no models named) serves
 * the real default models with the reference answers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { provisionModels } from '../../ts/index.js';
import { type ModelSpec, resolveConfig, startServer } from '../../ts/server/index.js';
import { assertGolden, diff, type GoldenCase, loadGoldens } from '../tasks/goldens.js';
import { fixtureModel, get, post, startTestServer, type TestServer } from './helpers.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');
const CHAT_MODEL = 'HuggingFaceTB/SmolLM2-135M-Instruct';
const ASR_MODEL = 'openai/whisper-tiny.en';

const SERVED: Record<string, string[]> = {
  'bert-ner': ['token-classification'],
  'roberta-ner': ['token-classification'],
  'xlmr-ner': ['token-classification'],
  'bert-sentiment': ['text-classification'],
  'bert-multilabel': ['text-classification'],
  'bert-regression': ['text-classification'],
  'bert-cross-encoder': ['text-classification'],
  'bert-nli': ['text-classification', 'zero-shot-classification'],
  'bert-mlm': ['fill-mask'],
  'roberta-mlm': ['fill-mask'],
  'bert-qa': ['question-answering'],
  'roberta-qa': ['question-answering'],
  'bert-encoder': ['feature-extraction'],
  'st-encoder': ['feature-extraction', 'sentence-similarity'],
  'st-encoder-cls': ['feature-extraction', 'sentence-similarity'],
};

const TASKS = [
  'token-classification',
  'text-classification',
  'zero-shot-classification',
  'fill-mask',
  'question-answering',
  'feature-extraction',
  'sentence-similarity',
];

let srv: TestServer;

test.before(async () => {
  const models: ModelSpec[] = Object.entries(SERVED).map(([name, tasks]) => ({
    id: `test/${name}`,
    path: fixtureModel(name),
    tasks,
  }));
  srv = await startTestServer({ models, cache: { maxEntries: 0 } });
});

test.after.always(async () => {
  await srv?.close();
});

interface Answer {
  score: number;
  start: number;
  end: number;
}

/**
 * What the server answers for a golden output: text classification of one input is wrapped.
 * QA answers with score exactly 0 (top_k beyond the positive spans) come from the tie order of
 * numpy's partition, which differs between CPUs: their offsets are not compared (as in the
 * task tests).
 */
function wire(task: string, c: GoldenCase, actual: unknown): unknown {
  if (task === 'text-classification' && !Array.isArray(c.inputs)) return [c.output];
  if (task === 'question-answering' && Array.isArray(c.output) && Array.isArray(actual)) {
    return (c.output as Answer[]).map((e, i) => {
      const a = actual[i] as Answer | undefined;
      return e.score === 0 && a?.score === 0 ? { ...e, start: a.start, end: a.end } : e;
    });
  }
  return c.output;
}

/** `sentences: []` crashes the reference (a 500 there); the contract answers an empty list. */
function isEmptySimilarity(task: string, c: GoldenCase): boolean {
  return task === 'sentence-similarity' && (c.inputs as { sentences?: unknown[] }).sentences?.length === 0;
}

for (const task of TASKS) {
  test(`${task}: every reference golden over HTTP`, async (t) => {
    const cases = loadGoldens(task).cases.filter((c) => !(c as { variant?: unknown }).variant);
    t.true(cases.length > 0);
    let errors = 0;
    for (const c of cases) {
      const res = await post(`${srv.url}/pipeline/${task}/test/${c.model}`, {
        inputs: c.inputs,
        parameters: c.parameters ?? {},
      });
      if (c.error && isEmptySimilarity(task, c)) {
        t.is(res.status, 200, c.id);
        t.deepEqual(res.body, [], c.id);
        continue;
      }
      if (c.error) {
        errors++;
        t.is(res.status, 400, `${c.id}: ${res.text.slice(0, 300)}`);
        const err = (res.body as { error?: unknown }).error;
        t.true(typeof err === 'string' || Array.isArray(err), c.id);
        continue;
      }
      t.is(res.status, 200, `${c.id}: ${res.text.slice(0, 300)}`);
      const d = diff(res.body, wire(task, c, res.body), 1e-4);
      t.is(d, null, `${c.id}: ${d}`);
    }
    t.log(`${cases.length} cases, ${errors} errors`);
  });
}

test('the default configuration serves the real default models with the reference answers', async (t) => {
  t.timeout(15 * 60_000);
  await provisionModels({
    models: ['sentence-transformers/all-MiniLM-L6-v2', 'nationaldesignstudio/rampart', CHAT_MODEL, ASR_MODEL],
  });
  // What `hf-tasks serve` does with no configuration: the default models, loaded in the background.
  const server = await startServer(resolveConfig({ host: '127.0.0.1', port: 0, logLevel: 'silent' }));
  const real = { url: `http://127.0.0.1:${server.port}`, close: () => server.close() };
  try {
    while ((await get(`${real.url}/health`)).status !== 200) await new Promise((r) => setTimeout(r, 50));
    const models = await get(`${real.url}/models`);
    t.deepEqual(
      (models.body as Array<{ id: string; tasks: string[] }>).map((m) => [m.id, m.tasks]),
      [
        ['sentence-transformers/all-MiniLM-L6-v2', ['feature-extraction', 'sentence-similarity']],
        ['nationaldesignstudio/rampart', ['token-classification']],
        [CHAT_MODEL, ['text-generation', 'conversational']],
        [ASR_MODEL, ['automatic-speech-recognition']],
      ],
    );
    // The default dtype: fp32 for all-MiniLM-L6-v2 (the int8 cases name their dtype).
    const cases = (
      loadGoldens('real-models').cases as Array<GoldenCase & { task: string; dtype?: string }>
    ).filter((c) => c.dtype === undefined);
    t.true(cases.length >= 10);
    for (const c of cases) {
      const res = await post(`${real.url}/pipeline/${c.task}/${c.model}`, {
        inputs: c.inputs,
        parameters: c.parameters,
      });
      t.is(res.status, 200, c.id);
      assertGolden(t, res.body, c.output);
    }
    // The seed requests by the models' own routes.
    const seed = cases.find((c) => c.id === 'minilm/similarity/happy');
    const byModel = await post(`${real.url}/models/sentence-transformers/all-MiniLM-L6-v2`, {
      inputs: seed?.inputs,
    });
    assertGolden(t, byModel.body, seed?.output);
    const ner = cases.find((c) => c.id === 'rampart/sarah/default');
    const nerRes = await post(`${real.url}/models/nationaldesignstudio/rampart`, { inputs: ner?.inputs });
    t.is(nerRes.status, 200);
    assertGolden(t, nerRes.body, ner?.output);
    // The chat model: greedy ids of a prompt and a chat as transformers gives them, by the model's
    // route and by OpenAI's chat route.
    const chat = JSON.parse(readFileSync(path.join(FIXTURES, 'goldens', 'smollm2.json'), 'utf8')) as {
      max_new_tokens: number;
      cases: Array<{ id: string; prompt?: string; messages?: unknown[]; greedy_ids: number[] }>;
    };
    const answers = new Map<string, string | undefined>();
    for (const id of ['prompt/0', 'chat/0']) {
      const c = chat.cases.find((x) => x.id === id);
      const res = await post(`${real.url}/models/${CHAT_MODEL}`, {
        inputs: c?.prompt ?? c?.messages,
        parameters: { max_new_tokens: chat.max_new_tokens, do_sample: false, details: true },
      });
      t.is(res.status, 200, id);
      const out = res.body as Array<{
        generated_text: string | Array<{ content: string }>;
        details: { tokens: Array<{ id: number }> };
      }>;
      t.deepEqual(
        out[0]?.details.tokens.map((tk) => tk.id),
        c?.greedy_ids,
        id,
      );
      const text = out[0]?.generated_text;
      answers.set(id, typeof text === 'string' ? text : text?.at(-1)?.content);
    }
    const completion = await post(`${real.url}/v1/chat/completions`, {
      model: CHAT_MODEL,
      messages: chat.cases.find((x) => x.id === 'chat/0')?.messages,
      max_tokens: chat.max_new_tokens,
      temperature: 0,
    });
    t.is(completion.status, 200);
    const choice = (completion.body as { choices: Array<{ message: { content: string } }> }).choices[0];
    t.is(choice?.message.content, answers.get('chat/0'));
    // Speech recognition: a WAV body (what `curl --data-binary @speech.wav` sends).
    const speech = JSON.parse(
      readFileSync(path.join(FIXTURES, 'goldens', 'whisper-tiny-en.json'), 'utf8'),
    ) as {
      text: string;
    };
    const heard = await post(
      `${real.url}/models/${ASR_MODEL}`,
      readFileSync(path.join(FIXTURES, 'audio', 'speech.wav')),
      { 'content-type': 'audio/wav' },
    );
    t.is(heard.status, 200, heard.text);
    t.deepEqual(heard.body, { text: speech.text });
  } finally {
    await real.close();
  }
});

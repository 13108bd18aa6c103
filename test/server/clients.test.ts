/**
 * The official clients against the server, unchanged.
 *
 * - `huggingface_hub` (Python): the requests its InferenceClient sends for every encoder task
 *   method, recorded by scripts/fixtures/record_hub_client.py into
 *   test/fixtures/clients/huggingface_hub.json, are replayed here byte for byte, and each answer
 *   is checked against what the client's parsing code reads from it.
 * - `@huggingface/inference` (JS): its InferenceClient is driven directly, with `endpointUrl`
 *   pointing at a served model (the provider is then hf-inference; naming it as well is an
 *   error in the client), through every encoder task method it has.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InferenceClient, InferenceClientProviderOutputError } from '@huggingface/inference';
import test, { type ExecutionContext } from 'ava';
import {
  FIXTURE_MODELS,
  fixtureModel,
  post,
  request,
  root,
  startTestServer,
  type TestServer,
} from './helpers.js';

interface RecordedCall {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  expects: string;
}

const hub = JSON.parse(
  readFileSync(path.join(root, 'test', 'fixtures', 'clients', 'huggingface_hub.json'), 'utf8'),
) as { version: string; zero_shot_list_form: string; calls: RecordedCall[] };

let srv: TestServer;

test.before(async () => {
  srv = await startTestServer({
    models: [
      ...FIXTURE_MODELS,
      { id: 'test/bert-mlm', path: fixtureModel('bert-mlm'), tasks: ['fill-mask'] },
      { id: 'test/bert-qa', path: fixtureModel('bert-qa'), tasks: ['question-answering'] },
    ],
  });
});

test.after.always(async () => {
  await srv?.close();
});

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A nested list of numbers, as `np.array(response, dtype="float32")` needs (rectangular). */
function numericShape(v: unknown): number[] | null {
  if (isNumber(v)) return [];
  if (!Array.isArray(v) || v.length === 0) return null;
  const shapes = v.map(numericShape);
  const first = shapes[0];
  if (!first || shapes.some((s) => s === null || s.join() !== first.join())) return null;
  return [v.length, ...first];
}

/** What huggingface_hub 0.36.2 reads from each answer (its `_client.py` parsing). */
function checkHubAnswer(t: ExecutionContext, call: RecordedCall, body: unknown): void {
  const name = call.name;
  if (name.startsWith('token_classification')) {
    t.true(Array.isArray(body), name);
    for (const item of body as unknown[]) {
      t.true(isObject(item), name);
      const e = item as Record<string, unknown>;
      t.true(isNumber(e.start) && isNumber(e.end) && isNumber(e.score) && typeof e.word === 'string', name);
      t.true(typeof e.entity === 'string' || typeof e.entity_group === 'string', name);
    }
  } else if (name.startsWith('text_classification')) {
    // parse_obj_as_list(response)[0]: the first item is the label list.
    t.true(Array.isArray(body) && Array.isArray((body as unknown[])[0]), name);
    const labels = (body as unknown[][])[0] as unknown[];
    t.true(labels.length > 0, name);
    for (const l of labels) t.true(isObject(l) && typeof l.label === 'string' && isNumber(l.score), name);
  } else if (name.startsWith('zero_shot_classification')) {
    // output["labels"], output["scores"], zipped.
    t.true(isObject(body), name);
    const o = body as Record<string, unknown>;
    t.true(Array.isArray(o.labels) && o.labels.every((l) => typeof l === 'string'), name);
    t.true(Array.isArray(o.scores) && o.scores.every(isNumber), name);
    t.is((o.labels as unknown[]).length, (o.scores as unknown[]).length, name);
    const sent = JSON.parse(call.body) as { parameters: { candidate_labels: string[] } };
    t.deepEqual([...(o.labels as string[])].sort(), [...sent.parameters.candidate_labels].sort(), name);
  } else if (name.startsWith('fill_mask')) {
    t.true(Array.isArray(body) && (body as unknown[]).length > 0, name);
    for (const c of body as unknown[]) {
      t.true(isObject(c), name);
      const e = c as Record<string, unknown>;
      t.true(isNumber(e.score) && Number.isInteger(e.token), name);
      t.true(typeof e.token_str === 'string' && typeof e.sequence === 'string', name);
    }
  } else if (name.startsWith('question_answering')) {
    const items = Array.isArray(body) ? body : [body];
    const topK = (JSON.parse(call.body) as { parameters?: { top_k?: number } }).parameters?.top_k;
    t.is(Array.isArray(body), topK !== undefined && topK > 1, name);
    for (const a of items) {
      t.true(isObject(a), name);
      const e = a as Record<string, unknown>;
      t.true(typeof e.answer === 'string' && isNumber(e.score) && isNumber(e.start) && isNumber(e.end), name);
    }
  } else if (name.startsWith('feature_extraction')) {
    const shape = numericShape(body);
    t.not(shape, null, name);
    t.true((shape?.length ?? 0) >= 1, name);
  } else if (name.startsWith('sentence_similarity')) {
    const sent = JSON.parse(call.body) as { inputs: { sentences: string[] } };
    t.true(Array.isArray(body) && (body as unknown[]).every(isNumber), name);
    t.is((body as unknown[]).length, sent.inputs.sentences.length, name);
  } else {
    t.fail(`no check for ${name}`);
  }
}

const replay = (call: RecordedCall) => {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(call.headers)) if (k !== 'user-agent') headers[k] = v;
  headers['user-agent'] = `${call.headers['user-agent'] ?? 'hf_hub'}; replay`;
  return request(call.method, `${srv.url}${call.path}`, call.body, headers);
};

test('huggingface_hub: the fixture covers every encoder task method', (t) => {
  const methods = new Set(
    hub.calls.map((c) => c.name.replace(/_(simple|none|top_k|multi_label|options|pipeline_route)$/, '')),
  );
  for (const m of [
    'token_classification',
    'text_classification',
    'zero_shot_classification',
    'fill_mask',
    'question_answering',
    'feature_extraction',
    'sentence_similarity',
  ]) {
    t.true(methods.has(m), m);
  }
  t.is(hub.version, '0.36.2');
  // The client cannot read the list form of zero-shot: the legacy object is what it needs.
  t.regex(hub.zero_shot_list_form, /TypeError/);
});

for (const call of hub.calls) {
  test(`huggingface_hub ${call.name}: the recorded request is answered as the client parses it`, async (t) => {
    const res = await replay(call);
    t.is(res.status, 200, res.text.slice(0, 300));
    checkHubAnswer(t, call, res.body);
  });
}

test('huggingface_hub feature_extraction options at the top level are honoured (as /embed does)', async (t) => {
  const byName = (n: string) => hub.calls.find((c) => c.name === n) as RecordedCall;
  const plain = await replay(byName('feature_extraction'));
  const options = await replay(byName('feature_extraction_options'));
  const sent = JSON.parse(byName('feature_extraction_options').body) as Record<string, unknown>;
  t.is(sent.normalize, false);
  t.is(sent.prompt_name, 'query');
  const tei = await post(`${srv.url}/embed`, { ...sent, model: 'test/st-encoder' });
  t.is(tei.status, 200);
  t.deepEqual(options.body, (tei.body as number[][])[0]);
  t.notDeepEqual(options.body, plain.body);
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  t.true(Math.abs(norm(plain.body as number[]) - 1) < 1e-5, 'the model normalises by default');
  t.true(Math.abs(norm(options.body as number[]) - 1) > 1e-3, 'normalize: false is honoured');
  // The same options inside `parameters` give the same answer; conflicting values are a 400.
  const { inputs, ...rest } = sent;
  const inParams = await post(`${srv.url}/models/test/st-encoder`, { inputs, parameters: rest });
  t.deepEqual(inParams.body, options.body);
  const conflict = await post(`${srv.url}/models/test/st-encoder`, {
    inputs,
    normalize: true,
    parameters: { normalize: false },
  });
  t.is(conflict.status, 400);
  t.regex(conflict.text, /normalize/);
  // prompt_name reaches the model: an unknown prompt is the task's 400.
  const unknown = await post(`${srv.url}/pipeline/feature-extraction/test/st-encoder`, {
    inputs,
    prompt_name: 'no-such-prompt',
  });
  t.is(unknown.status, 400);
});

/** Requests the JS client sent (through its `fetch` option). */
interface Sent {
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

function jsClient(modelPath: string): { client: InferenceClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((init?.headers ?? {}) as Record<string, string>))
      headers[k.toLowerCase()] = v;
    sent.push({ url: String(input), headers, body: JSON.parse(String(init?.body)) });
    return fetch(input, init);
  };
  const client = new InferenceClient(undefined, {
    endpointUrl: `${srv.url}${modelPath}`,
    fetch: recordingFetch,
  });
  return { client, sent };
}

test('@huggingface/inference tokenClassification', async (t) => {
  const { client, sent } = jsClient('/models/test/bert-ner');
  const out = await client.tokenClassification({ inputs: 'Alice met Bob in Paris' });
  t.true(Array.isArray(out));
  for (const e of out) t.is(typeof e.entity_group, 'string');
  const simple = await client.tokenClassification({
    inputs: 'Alice met Bob in Paris',
    parameters: { aggregation_strategy: 'simple', ignore_labels: [] },
  });
  t.true(simple.length > 0);
  t.is(sent[0]?.url, `${srv.url}/models/test/bert-ner`);
  t.regex(String(sent[0]?.headers['user-agent']), /^@huggingface\/inference\//);
  t.deepEqual(sent[0]?.body, { inputs: 'Alice met Bob in Paris' });
});

test('@huggingface/inference tokenClassification with aggregation_strategy none: the client rejects the per-token items', async (t) => {
  // The server answers what the Inference API answers ({entity, index, ...}, no entity_group);
  // this client accepts only grouped entities, so it raises (README: Server, clients).
  const { client } = jsClient('/models/test/bert-ner');
  await t.throwsAsync(
    client.tokenClassification({
      inputs: 'Alice met Bob in Paris',
      parameters: { aggregation_strategy: 'none', ignore_labels: [] },
    }),
    { instanceOf: InferenceClientProviderOutputError },
  );
  const raw = await post(`${srv.url}/models/test/bert-ner`, {
    inputs: 'Alice met Bob in Paris',
    parameters: { aggregation_strategy: 'none', ignore_labels: [] },
  });
  t.is(raw.status, 200);
  const items = raw.body as Array<Record<string, unknown>>;
  t.true(items.length > 0);
  for (const e of items) {
    t.is(typeof e.entity, 'string');
    t.true(Number.isInteger(e.index));
    t.false('entity_group' in e);
  }
});

test('@huggingface/inference textClassification', async (t) => {
  const { client, sent } = jsClient('/models/test/bert-sentiment');
  const out = await client.textClassification({ inputs: 'I love this movie!' });
  t.true(out.length > 0);
  for (const l of out) t.true(typeof l.label === 'string' && isNumber(l.score));
  const top = await client.textClassification({ inputs: 'I love this movie!', parameters: { top_k: 1 } });
  t.is(top.length, 1);
  t.deepEqual(sent[1]?.body, { inputs: 'I love this movie!', parameters: { top_k: 1 } });
});

test('@huggingface/inference zeroShotClassification reads the legacy answer', async (t) => {
  const { client, sent } = jsClient('/models/test/bert-nli');
  const out = await client.zeroShotClassification({
    inputs: 'The match ended in a draw.',
    parameters: { candidate_labels: ['sports', 'politics', 'cooking'] },
  });
  t.deepEqual(out.map((x) => x.label).sort(), ['cooking', 'politics', 'sports']);
  for (const x of out) t.true(isNumber(x.score));
  const scores = out.map((x) => x.score);
  t.deepEqual(
    scores,
    [...scores].sort((a, b) => b - a),
  );
  t.deepEqual(sent[0]?.body, {
    inputs: 'The match ended in a draw.',
    parameters: { candidate_labels: ['sports', 'politics', 'cooking'] },
  });
  const multi = await client.zeroShotClassification({
    inputs: 'I like the food but the service was slow.',
    parameters: { candidate_labels: ['positive', 'negative'], multi_label: true },
  });
  t.is(multi.length, 2);
});

test('@huggingface/inference fillMask', async (t) => {
  const { client } = jsClient('/models/test/bert-mlm');
  const out = await client.fillMask({ inputs: 'The capital of France is [MASK].', parameters: { top_k: 3 } });
  t.is(out.length, 3);
  for (const c of out) t.true(typeof c.token_str === 'string' && typeof c.sequence === 'string');
});

test('@huggingface/inference questionAnswering', async (t) => {
  const { client } = jsClient('/models/test/bert-qa');
  const out = await client.questionAnswering({
    inputs: { question: 'Where does Sarah live?', context: 'Sarah lives in London.' },
  });
  t.is(typeof out.answer, 'string');
  t.true(isNumber(out.start) && isNumber(out.end) && isNumber(out.score));
  t.is('Sarah lives in London.'.slice(out.start, out.end), out.answer);
  const two = await client.questionAnswering({
    inputs: { question: 'Who met Bob?', context: 'Alice met Bob in Paris last year.' },
    parameters: { top_k: 2 },
  });
  t.is(typeof two.answer, 'string', 'the client keeps the best of a top_k list');
});

test('@huggingface/inference featureExtraction, options at the top level', async (t) => {
  const { client, sent } = jsClient('/models/test/st-encoder');
  const unit = (await client.featureExtraction({ inputs: 'That is a happy person' })) as number[];
  const raw = (await client.featureExtraction({
    inputs: 'That is a happy person',
    normalize: false,
    prompt_name: 'query',
  })) as number[];
  t.deepEqual(sent[1]?.body, { inputs: 'That is a happy person', normalize: false, prompt_name: 'query' });
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  t.true(Math.abs(norm(unit) - 1) < 1e-5);
  t.true(Math.abs(norm(raw) - 1) > 1e-3);
  const tei = await post(`${srv.url}/embed`, {
    model: 'test/st-encoder',
    inputs: 'That is a happy person',
    normalize: false,
    prompt_name: 'query',
  });
  t.deepEqual(raw, (tei.body as number[][])[0]);
  const batch = (await client.featureExtraction({ inputs: ['one', 'two'] })) as number[][];
  t.is(batch.length, 2);
});

test('@huggingface/inference sentenceSimilarity on the same model URL', async (t) => {
  const { client } = jsClient('/models/test/st-encoder');
  const out = await client.sentenceSimilarity({
    inputs: {
      source_sentence: 'That is a happy person',
      sentences: ['That is a happy dog', 'Today is a sunny day'],
    },
  });
  t.is(out.length, 2);
  for (const x of out) t.true(isNumber(x) && x <= 1 + 1e-6 && x >= -1 - 1e-6);
  const pipelineRoute = jsClient('/pipeline/sentence-similarity/test/st-encoder').client;
  t.deepEqual(
    await pipelineRoute.sentenceSimilarity({
      inputs: {
        source_sentence: 'That is a happy person',
        sentences: ['That is a happy dog', 'Today is a sunny day'],
      },
    }),
    out,
  );
});

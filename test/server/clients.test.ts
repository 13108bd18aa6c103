/**
 * The official clients against the server, unchanged.
 *
 * - `huggingface_hub` (Python): the requests its InferenceClient sends for every task method the
 *   server serves (encoder tasks, text generation plain / with details / with stop / streamed,
 *   chat completion streamed and not, summarization, translation, speech recognition, audio and
 *   image classification, object detection, image segmentation, table question answering),
 *   recorded by scripts/fixtures/record_hub_client.py into
 *   test/fixtures/clients/huggingface_hub.json, are replayed here byte for byte (binary bodies from
 *   the fixture file they were), and each answer is checked against what the client's parsing
 *   code reads from it, server-sent events parsed line by line as the client does.
 * - `@huggingface/inference` (JS): its InferenceClient is driven directly, with `endpointUrl`
 *   pointing at a served model (the provider is then hf-inference; naming it as well is an
 *   error in the client), through every encoder task method it has.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InferenceClient, InferenceClientProviderOutputError } from '@huggingface/inference';
import test, { type ExecutionContext } from 'ava';
import {
  FIXTURE_MODELS,
  fixtureModel,
  type JsonResponse,
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
  /** The body as sent, when it is text (JSON). */
  body?: string;
  /** A binary body: the fixture file it was, byte for byte. */
  body_file?: string;
  body_sha256?: string;
  /** The content type the server answered (`text/event-stream` for streams). */
  response_type?: string;
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
      // The same ids and tasks as scripts/fixtures/record_hub_client.py serves (no task: the model's own).
      { id: 'test/gpt2-tiny', path: fixtureModel('gpt2-tiny'), tasks: ['text-generation'] },
      { id: 'test/llama-tiny', path: fixtureModel('llama-tiny'), tasks: ['text-generation'] },
      {
        id: 'test/qwen2-tiny',
        path: fixtureModel('qwen2-tiny'),
        tasks: ['text-generation', 'conversational'],
      },
      { id: 'test/bart-tiny', path: fixtureModel('bart-tiny'), tasks: ['summarization'] },
      { id: 'test/t5-tiny', path: fixtureModel('t5-tiny'), tasks: [] },
      { id: 'test/marian-tiny', path: fixtureModel('marian-tiny'), tasks: [] },
      { id: 'test/mbart-tiny', path: fixtureModel('mbart-tiny'), tasks: ['translation'] },
      { id: 'test/ctc', path: fixtureModel('wav2vec2-ctc-tiny'), tasks: [] },
      { id: 'test/whisper', path: fixtureModel('whisper-tiny-random'), tasks: [] },
      { id: 'test/audio-cls', path: fixtureModel('wav2vec2-audio-cls-tiny'), tasks: [] },
      { id: 'test/vit', path: fixtureModel('vit-tiny'), tasks: [] },
      { id: 'test/detr', path: fixtureModel('detr-tiny'), tasks: [] },
      { id: 'test/segformer', path: fixtureModel('segformer-tiny'), tasks: [] },
      { id: 'test/detr-panoptic', path: fixtureModel('detr-panoptic-tiny'), tasks: [] },
      { id: 'test/tapas-wtq', path: fixtureModel('tapas-wtq'), tasks: ['table-question-answering'] },
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

/** The task methods of the client the fixture covers; each call's name starts with its method. */
const HUB_METHODS = [
  'token_classification',
  'text_classification',
  'zero_shot_classification',
  'fill_mask',
  'question_answering',
  'feature_extraction',
  'sentence_similarity',
  'text_generation',
  'chat_completion',
  'summarization',
  'translation',
  'automatic_speech_recognition',
  'audio_classification',
  'image_classification',
  'object_detection',
  'image_segmentation',
  'table_question_answering',
] as const;

const methodOf = (name: string): string | undefined =>
  HUB_METHODS.filter((m) => name === m || name.startsWith(`${m}_`)).sort((a, b) => b.length - a.length)[0];

const sentBody = (call: RecordedCall): Record<string, unknown> =>
  call.body === undefined ? {} : (JSON.parse(call.body) as Record<string, unknown>);

/**
 * The JSON payloads of a server-sent event stream, read as the client reads it: line by line,
 * lines not starting with `data:` skipped, `data: [DONE]` ends it, the rest after `data:` is JSON.
 */
function clientEvents(text: string): { events: unknown[]; done: boolean } {
  const events: unknown[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:')) continue;
    if (line.trim() === 'data: [DONE]') return { events, done: true };
    events.push(JSON.parse(line.slice('data:'.length)));
  }
  return { events, done: false };
}

const isInt = (v: unknown): v is number => Number.isInteger(v);
const isStringOrNull = (v: unknown) => typeof v === 'string' || v === null;

function checkLabelScores(t: ExecutionContext, name: string, body: unknown): void {
  t.true(Array.isArray(body) && (body as unknown[]).length > 0, name);
  for (const l of body as unknown[])
    t.true(isObject(l) && typeof l.label === 'string' && isNumber(l.score), name);
}

/** TGI's token: `{id, text, logprob, special}` (TextGenerationOutputToken / StreamOutputToken). */
function checkToken(t: ExecutionContext, name: string, tok: unknown): void {
  t.true(isObject(tok), name);
  const k = tok as Record<string, unknown>;
  t.true(isInt(k.id) && typeof k.text === 'string' && typeof k.special === 'boolean', name);
  t.true(isNumber(k.logprob) || k.logprob === null, name);
}

/** TextGenerationOutput (details requested): every field its types require. */
function checkTgiDetails(t: ExecutionContext, name: string, d: unknown, maxTokens: number): void {
  t.true(isObject(d), `${name}: details`);
  const x = d as Record<string, unknown>;
  t.true(['length', 'eos_token', 'stop_sequence'].includes(String(x.finish_reason)), name);
  t.true(isInt(x.generated_tokens) && (x.generated_tokens as number) <= maxTokens, name);
  t.true('seed' in x && (x.seed === null || isInt(x.seed)), `${name}: details.seed`);
  t.deepEqual(x.prefill, [], `${name}: details.prefill`);
  t.true(Array.isArray(x.tokens), name);
  t.is((x.tokens as unknown[]).length, x.generated_tokens as number, name);
  for (const tok of x.tokens as unknown[]) checkToken(t, name, tok);
}

/** ChatCompletionOutput / ChatCompletionStreamOutput: the envelope every answer and chunk has. */
function checkChatEnvelope(t: ExecutionContext, name: string, o: unknown, object: string): void {
  t.true(isObject(o), name);
  const x = o as Record<string, unknown>;
  t.true(typeof x.id === 'string' && isInt(x.created) && typeof x.model === 'string', name);
  t.is(typeof x.system_fingerprint, 'string', `${name}: system_fingerprint`);
  t.is(x.object, object, name);
  t.true(Array.isArray(x.choices), name);
}

function checkUsage(t: ExecutionContext, name: string, u: unknown): void {
  t.true(isObject(u), `${name}: usage`);
  const x = u as Record<string, unknown>;
  t.true(isInt(x.prompt_tokens) && isInt(x.completion_tokens), name);
  t.is(x.total_tokens, (x.prompt_tokens as number) + (x.completion_tokens as number), name);
}

/** What huggingface_hub 0.36.2 reads from each answer (its `_client.py` parsing and its types). */
function checkHubAnswer(t: ExecutionContext, call: RecordedCall, res: JsonResponse): void {
  const name = call.name;
  const body = res.body;
  const sent = sentBody(call);
  const params = (sent.parameters ?? {}) as Record<string, unknown>;
  const method = methodOf(name);
  if (method === 'token_classification') {
    t.true(Array.isArray(body), name);
    for (const item of body as unknown[]) {
      t.true(isObject(item), name);
      const e = item as Record<string, unknown>;
      t.true(isNumber(e.start) && isNumber(e.end) && isNumber(e.score) && typeof e.word === 'string', name);
      t.true(typeof e.entity === 'string' || typeof e.entity_group === 'string', name);
    }
  } else if (method === 'text_classification') {
    // parse_obj_as_list(response)[0]: the first item is the label list.
    t.true(Array.isArray(body) && Array.isArray((body as unknown[])[0]), name);
    checkLabelScores(t, name, (body as unknown[][])[0]);
  } else if (method === 'zero_shot_classification') {
    // output["labels"], output["scores"], zipped.
    t.true(isObject(body), name);
    const o = body as Record<string, unknown>;
    t.true(Array.isArray(o.labels) && o.labels.every((l) => typeof l === 'string'), name);
    t.true(Array.isArray(o.scores) && o.scores.every(isNumber), name);
    t.is((o.labels as unknown[]).length, (o.scores as unknown[]).length, name);
    const labels = (params as { candidate_labels: string[] }).candidate_labels;
    t.deepEqual([...(o.labels as string[])].sort(), [...labels].sort(), name);
  } else if (method === 'fill_mask') {
    t.true(Array.isArray(body) && (body as unknown[]).length > 0, name);
    for (const c of body as unknown[]) {
      t.true(isObject(c), name);
      const e = c as Record<string, unknown>;
      t.true(isNumber(e.score) && Number.isInteger(e.token), name);
      t.true(typeof e.token_str === 'string' && typeof e.sequence === 'string', name);
    }
  } else if (method === 'question_answering') {
    const items = Array.isArray(body) ? body : [body];
    const topK = params.top_k as number | undefined;
    t.is(Array.isArray(body), topK !== undefined && topK > 1, name);
    for (const a of items) {
      t.true(isObject(a), name);
      const e = a as Record<string, unknown>;
      t.true(typeof e.answer === 'string' && isNumber(e.score) && isNumber(e.start) && isNumber(e.end), name);
    }
  } else if (method === 'feature_extraction') {
    const shape = numericShape(body);
    t.not(shape, null, name);
    t.true((shape?.length ?? 0) >= 1, name);
  } else if (method === 'sentence_similarity') {
    const inputs = sent.inputs as { sentences: string[] };
    t.true(Array.isArray(body) && (body as unknown[]).every(isNumber), name);
    t.is((body as unknown[]).length, inputs.sentences.length, name);
  } else if (method === 'text_generation' && sent.stream === true) {
    // Each event: TextGenerationStreamOutput {index, token, generated_text, details}; the
    // client yields token.text (or the whole event with details).
    t.regex(String(res.headers['content-type']), /^text\/event-stream/, name);
    const { events } = clientEvents(res.text);
    const max = params.max_new_tokens as number;
    t.true(events.length > 0 && events.length <= max, name);
    for (const [i, e] of events.entries()) {
      t.true(isObject(e) && !('error' in e), name);
      const x = e as Record<string, unknown>;
      t.true(isInt(x.index), name);
      checkToken(t, name, x.token);
      if (i < events.length - 1) t.true(x.generated_text === null && x.details === null, name);
    }
    const last = events.at(-1) as Record<string, unknown>;
    const tokensText = events.map((e) => (e as { token: { text: string } }).token.text).join('');
    t.true(typeof last.generated_text === 'string' && last.generated_text.endsWith(tokensText), name);
    t.true(isObject(last.details), name);
    const d = last.details as Record<string, unknown>;
    t.true(['length', 'eos_token', 'stop_sequence'].includes(String(d.finish_reason)), name);
    t.is(d.generated_tokens, events.length, name);
    t.true(isInt(d.input_length) && 'seed' in d, name);
  } else if (method === 'text_generation') {
    // A list is read as its first item; response["generated_text"] (or TextGenerationOutput).
    const first = Array.isArray(body) ? (body as unknown[])[0] : body;
    t.true(isObject(first) && typeof first.generated_text === 'string', name);
    const item = first as { generated_text: string; details?: unknown };
    const max = params.max_new_tokens as number;
    if (params.details === true) checkTgiDetails(t, name, item.details, max);
    const stop = params.stop as string[] | undefined;
    if (stop !== undefined) {
      // TGI keeps the stop sequence at the end of the text.
      t.is((item.details as { finish_reason: string }).finish_reason, 'stop_sequence', name);
      t.true(
        stop.some((s) => item.generated_text.endsWith(s)),
        name,
      );
    }
  } else if (method === 'chat_completion' && sent.stream === true) {
    t.regex(String(res.headers['content-type']), /^text\/event-stream/, name);
    const { events, done } = clientEvents(res.text);
    t.true(done, `${name}: ends with [DONE]`);
    const includeUsage = (sent.stream_options as { include_usage?: boolean } | undefined)?.include_usage;
    const chunks = includeUsage ? events.slice(0, -1) : events;
    t.true(chunks.length >= 2, name);
    for (const c of chunks) {
      checkChatEnvelope(t, name, c, 'chat.completion.chunk');
      t.false('error' in (c as object), name);
      const choices = (c as { choices: unknown[] }).choices;
      t.is(choices.length, 1, name);
      const ch = choices[0] as Record<string, unknown>;
      t.true(isInt(ch.index) && isStringOrNull(ch.finish_reason), name);
      // ChatCompletionStreamOutputDelta: role is a required string, content optional.
      t.true(isObject(ch.delta), name);
      const delta = ch.delta as Record<string, unknown>;
      t.is(delta.role, 'assistant', `${name}: delta.role`);
      t.true(delta.content === undefined || typeof delta.content === 'string', name);
    }
    const finish = (chunks.at(-1) as { choices: Array<{ finish_reason: unknown }> }).choices[0]
      ?.finish_reason;
    t.true(finish === 'length' || finish === 'stop', name);
    if (includeUsage) {
      const u = events.at(-1) as Record<string, unknown>;
      checkChatEnvelope(t, name, u, 'chat.completion.chunk');
      t.deepEqual(u.choices, [], name);
      checkUsage(t, name, u.usage);
    }
  } else if (method === 'chat_completion') {
    checkChatEnvelope(t, name, body, 'chat.completion');
    const o = body as { choices: Array<Record<string, unknown>>; usage: unknown };
    t.is(o.choices.length, 1, name);
    const ch = o.choices[0] as Record<string, unknown>;
    t.true(isInt(ch.index) && (ch.finish_reason === 'length' || ch.finish_reason === 'stop'), name);
    const msg = ch.message as Record<string, unknown>;
    t.true(isObject(msg) && msg.role === 'assistant' && typeof msg.content === 'string', name);
    checkUsage(t, name, o.usage);
    t.true((o.usage as { completion_tokens: number }).completion_tokens <= (sent.max_tokens as number), name);
  } else if (method === 'summarization' || method === 'translation') {
    // SummarizationOutput / TranslationOutput .parse_obj_as_list(response)[0]
    const key = method === 'summarization' ? 'summary_text' : 'translation_text';
    t.true(Array.isArray(body) && (body as unknown[]).length === 1, name);
    const first = (body as unknown[])[0];
    t.true(isObject(first) && typeof first[key] === 'string', name);
  } else if (method === 'automatic_speech_recognition') {
    t.true(isObject(body) && typeof body.text === 'string', name);
    const chunks = (body as Record<string, unknown>).chunks;
    t.true(chunks === undefined || Array.isArray(chunks), name);
  } else if (method === 'audio_classification' || method === 'image_classification') {
    checkLabelScores(t, name, body);
    if (params.top_k !== undefined) t.is((body as unknown[]).length, params.top_k as number, name);
  } else if (method === 'object_detection') {
    t.true(Array.isArray(body), name);
    for (const o of body as unknown[]) {
      t.true(isObject(o) && typeof o.label === 'string' && isNumber(o.score), name);
      const box = (o as Record<string, unknown>).box as Record<string, unknown>;
      t.true(isObject(box) && [box.xmin, box.ymin, box.xmax, box.ymax].every(isInt), name);
    }
  } else if (method === 'image_segmentation') {
    // Each mask goes through base64 decoding and PIL: a PNG.
    t.true(Array.isArray(body) && (body as unknown[]).length > 0, name);
    for (const o of body as unknown[]) {
      t.true(isObject(o) && typeof o.label === 'string', name);
      const x = o as Record<string, unknown>;
      t.true(x.score === null || x.score === undefined || isNumber(x.score), name);
      const png = Buffer.from(String(x.mask), 'base64');
      t.deepEqual(
        [...png.subarray(0, 8)],
        [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
        `${name}: a PNG mask`,
      );
    }
  } else if (method === 'table_question_answering') {
    t.true(isObject(body), name);
    const o = body as Record<string, unknown>;
    t.true(typeof o.answer === 'string' && Array.isArray(o.cells) && Array.isArray(o.coordinates), name);
    t.true(o.aggregator === undefined || typeof o.aggregator === 'string', name);
  } else {
    t.fail(`no check for ${name}`);
  }
}

const replay = (call: RecordedCall) => {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(call.headers)) if (k !== 'user-agent') headers[k] = v;
  headers['user-agent'] = `${call.headers['user-agent'] ?? 'hf_hub'}; replay`;
  let body: string | Uint8Array | undefined = call.body;
  if (call.body_file !== undefined) {
    const bytes = readFileSync(path.join(root, call.body_file));
    if (createHash('sha256').update(bytes).digest('hex') !== call.body_sha256) {
      throw new Error(`${call.body_file} is not the file the client sent`);
    }
    body = bytes;
  }
  return request(call.method, `${srv.url}${call.path}`, body, headers);
};

test('huggingface_hub: the fixture covers every task method the server serves', (t) => {
  const methods = new Set(hub.calls.map((c) => methodOf(c.name)));
  for (const m of HUB_METHODS) t.true(methods.has(m), m);
  t.false(methods.has(undefined), 'every call belongs to a method');
  t.is(hub.version, '0.36.2');
  // The client cannot read the list form of zero-shot: the legacy object is what it needs.
  t.regex(hub.zero_shot_list_form, /TypeError/);
  const names = new Set(hub.calls.map((c) => c.name));
  for (const n of [
    'text_generation_details',
    'text_generation_stop',
    'text_generation_stream',
    'text_generation_stream_details',
    'chat_completion_stream',
    'translation_src_tgt',
  ]) {
    t.true(names.has(n), n);
  }
  // Binary inputs go as the raw file (no parameters) or as base64 JSON (with parameters).
  t.true(
    hub.calls.some((c) => c.body_file !== undefined && /^audio\//.test(c.headers['content-type'] ?? '')),
  );
  t.true(
    hub.calls.some((c) => c.body_file !== undefined && /^image\//.test(c.headers['content-type'] ?? '')),
  );
});

for (const call of hub.calls) {
  test(`huggingface_hub ${call.name}: the recorded request is answered as the client parses it`, async (t) => {
    const res = await replay(call);
    t.is(res.status, 200, res.text.slice(0, 300));
    if (call.response_type !== undefined) {
      t.is(String(res.headers['content-type']).split(';')[0], call.response_type);
    }
    checkHubAnswer(t, call, res);
  });
}

const byName = (n: string) => {
  const call = hub.calls.find((c) => c.name === n);
  if (call === undefined) throw new Error(`no recorded call ${n}`);
  return call;
};

test('huggingface_hub streams add up to the answers not streamed (greedy)', async (t) => {
  // TGI events: the last generated_text is the plain call's text (same prompt and parameters).
  const plain = (await replay(byName('text_generation'))).body as Array<{ generated_text: string }>;
  const tgi = clientEvents((await replay(byName('text_generation_stream'))).text).events as Array<{
    generated_text: string | null;
  }>;
  t.is(tgi.at(-1)?.generated_text, plain[0]?.generated_text);
  // Chat: the deltas add up to the message of the same request not streamed.
  const whole = (await replay(byName('chat_completion'))).body as {
    choices: Array<{ message: { content: string }; finish_reason: string }>;
  };
  const chunks = clientEvents((await replay(byName('chat_completion_stream'))).text).events as Array<{
    choices: Array<{ delta: { content?: string }; finish_reason: string | null }>;
  }>;
  t.is(
    chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''),
    String(whole.choices[0]?.message.content),
  );
  t.is(chunks.at(-1)?.choices[0]?.finish_reason, whole.choices[0]?.finish_reason);
});

test('text-generation details on /models carry TGI seed and prefill, as /generate does', async (t) => {
  const inputs = 'The quick brown fox';
  const greedy = { max_new_tokens: 4, do_sample: false, details: true };
  const models = await post(`${srv.url}/models/test/gpt2-tiny`, { inputs, parameters: greedy });
  const tgi = await post(`${srv.url}/generate`, {
    model: 'test/gpt2-tiny',
    inputs,
    parameters: { ...greedy, return_full_text: true },
  });
  t.is(models.status, 200);
  const item = (models.body as Array<{ details: Record<string, unknown> }>)[0];
  t.deepEqual(item?.details, (tgi.body as { details: unknown }).details);
  t.is(item?.details.seed, null);
  t.deepEqual(item?.details.prefill, []);
  // Sampling with a seed reports it; without details there is no details object.
  const sampled = await post(`${srv.url}/models/test/gpt2-tiny`, {
    inputs,
    parameters: { max_new_tokens: 3, do_sample: true, seed: 11, details: true },
  });
  t.is((sampled.body as Array<{ details: { seed: unknown } }>)[0]?.details.seed, 11);
  const plain = await post(`${srv.url}/models/test/gpt2-tiny`, {
    inputs,
    parameters: { max_new_tokens: 3, do_sample: false },
  });
  t.false('details' in ((plain.body as object[])[0] as object));
});

test('chat completions carry system_fingerprint and a role in every streamed delta', async (t) => {
  const messages = [{ role: 'user', content: 'Say something nice' }];
  const whole = await post(`${srv.url}/v1/chat/completions`, {
    model: 'test/qwen2-tiny',
    messages,
    max_tokens: 3,
  });
  t.is(whole.status, 200);
  t.regex(
    String((whole.body as { system_fingerprint: unknown }).system_fingerprint),
    /^hf-tasks-\d+\.\d+\.\d+/,
  );
  const streamed = await post(`${srv.url}/models/test/qwen2-tiny/v1/chat/completions`, {
    messages,
    max_tokens: 3,
    stream: true,
  });
  const chunks = clientEvents(streamed.text).events as Array<{
    system_fingerprint: unknown;
    choices: Array<{ delta: Record<string, unknown>; finish_reason: string | null }>;
  }>;
  t.true(chunks.length >= 3);
  for (const c of chunks) {
    t.is(c.system_fingerprint, (whole.body as { system_fingerprint: unknown }).system_fingerprint);
    t.is(c.choices[0]?.delta.role, 'assistant');
  }
  // The last chunk: the finish reason and no content.
  t.deepEqual(chunks.at(-1)?.choices[0]?.delta, { role: 'assistant' });
  t.not(chunks.at(-1)?.choices[0]?.finish_reason, null);
  const completion = await post(`${srv.url}/v1/completions`, {
    model: 'test/gpt2-tiny',
    prompt: 'Hello',
    max_tokens: 2,
  });
  t.is(typeof (completion.body as { system_fingerprint: unknown }).system_fingerprint, 'string');
});

test('huggingface_hub feature_extraction options at the top level are honoured (as /embed does)', async (t) => {
  const plain = await replay(byName('feature_extraction'));
  const options = await replay(byName('feature_extraction_options'));
  const sent = sentBody(byName('feature_extraction_options'));
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

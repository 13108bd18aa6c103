/**
 * Text generation over HTTP: the Inference API routes (text-generation, conversational, and
 * `"stream": true`), TGI's `/generate` and `/generate_stream`, OpenAI's `/v1/completions` and
 * `/v1/chat/completions` (driven by the `openai` npm client and by `@huggingface/inference`,
 * unchanged), error shapes, the result cache and sampling, limits and metrics. Greedy answers
 * are compared with the text-generation pipeline's own output for the same input. The tests run
 * one at a time: concurrent requests to one model share batched forward passes, whose rounding
 * can flip a greedy choice between near-tied tokens of these random tiny models.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InferenceClient } from '@huggingface/inference';
import test from 'ava';
import OpenAI from 'openai';
import { pipeline } from '../../ts/pipeline.js';
import { readConfigFile } from '../../ts/server/index.js';
import { Tokenizer } from '../../ts/tokenizer.js';
import { fixtureModel, get, metricValue, post, startTestServer, type TestServer } from './helpers.js';

type Item = { generated_text: unknown; details?: Record<string, unknown> };
type RefPipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };

let srv: TestServer;
const refs = new Map<string, RefPipe>();

const MODELS = [
  { id: 'test/gpt2-tiny', path: fixtureModel('gpt2-tiny'), tasks: ['text-generation'] },
  { id: 'test/llama-tiny', path: fixtureModel('llama-tiny'), tasks: ['text-generation'] },
  { id: 'test/qwen2-tiny', path: fixtureModel('qwen2-tiny'), tasks: ['text-generation', 'conversational'] },
];

test.before(async () => {
  srv = await startTestServer({ models: MODELS });
});

test.after.always(async () => {
  await srv?.close();
  for (const p of refs.values()) await p.dispose();
});

/** The library's pipeline on the same fixture (the reference for the server's answers). */
async function reference(task: string, name: string): Promise<RefPipe> {
  const key = `${task}:${name}`;
  let p = refs.get(key);
  if (p === undefined) {
    p = (await (pipeline as (t: string, m: string, o: object) => Promise<unknown>)(task, fixtureModel(name), {
      inline: true,
      progress: false,
    })) as RefPipe;
    refs.set(key, p);
  }
  return p;
}

/** The `data:` payloads of a server-sent event stream. */
function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .map((block) => block.trim())
    .filter((block) => block !== '')
    .map((block) => {
      if (!block.startsWith('data: ')) throw new Error(`not an SSE data event: ${block}`);
      return block.slice('data: '.length);
    });
}

/** Tokens of a text prompt as the pipeline encodes it (special tokens included). */
function promptLength(name: string, text: string): number {
  return Tokenizer.fromFile(fixtureModel(name)).encode(text).inputIds.length;
}

const openai = () => new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'x', maxRetries: 0 });

test.serial('text-generation on /models answers as the pipeline does (prompt kept, greedy)', async (t) => {
  const ref = await reference('text-generation', 'llama-tiny');
  const parameters = { max_new_tokens: 12 };
  const res = await post(`${srv.url}/models/test/llama-tiny`, { inputs: 'Hello world', parameters });
  t.is(res.status, 200);
  t.deepEqual(res.body, await ref('Hello world', parameters));
  const text = String((res.body as Item[])[0]?.generated_text);
  t.true(text.startsWith('Hello world') && text.length > 'Hello world'.length);
  t.is(res.headers['x-compute-characters'], '11');
});

test.serial('a chat on /models and conversational on /pipeline answer as the pipelines do', async (t) => {
  const chat = [{ role: 'user', content: 'Say something nice' }];
  const refGen = await reference('text-generation', 'qwen2-tiny');
  const r1 = await post(`${srv.url}/models/test/qwen2-tiny`, {
    inputs: chat,
    parameters: { max_new_tokens: 6 },
  });
  t.is(r1.status, 200);
  t.deepEqual(r1.body, await refGen(chat, { max_new_tokens: 6 }));
  const messages = (r1.body as Item[])[0]?.generated_text as Array<{ role: string }>;
  t.is(messages.at(-1)?.role, 'assistant');

  const refConv = await reference('conversational', 'qwen2-tiny');
  const conv = { text: 'And then?', past_user_inputs: ['Hi'], generated_responses: ['Hello'] };
  const r2 = await post(`${srv.url}/pipeline/conversational/test/qwen2-tiny`, {
    inputs: conv,
    parameters: { max_new_tokens: 5 },
  });
  t.is(r2.status, 200);
  t.deepEqual(r2.body, await refConv(conv, { max_new_tokens: 5 }));
  t.deepEqual((r2.body as { conversation: { past_user_inputs: string[] } }).conversation.past_user_inputs, [
    'Hi',
    'And then?',
  ]);
});

test.serial('generation errors keep each route dialect', async (t) => {
  const bad = { inputs: 'Hi', parameters: { top_k: 'many' } };
  const hf = await post(`${srv.url}/models/test/llama-tiny`, bad);
  t.is(hf.status, 400);
  t.true(Array.isArray((hf.body as { error: unknown }).error));
  t.regex(String((hf.body as { error: string[] }).error[0]), /received `top_k` in `parameters`/);

  const tgi = await post(`${srv.url}/generate`, { ...bad, model: 'test/llama-tiny' });
  t.is(tgi.status, 422);
  t.is((tgi.body as { error_type: string }).error_type, 'validation');

  const unsupported = await post(`${srv.url}/generate`, { inputs: 'Hi', parameters: { best_of: 2 } });
  t.is(unsupported.status, 422);

  const greedyN = await post(`${srv.url}/v1/completions`, {
    model: 'test/llama-tiny',
    prompt: 'Hi',
    n: 2,
    temperature: 0,
  });
  t.is(greedyN.status, 400);
  t.is((greedyN.body as { error: { type: string } }).error.type, 'invalid_request_error');

  const missing = await post(`${srv.url}/v1/chat/completions`, {
    model: 'nobody/none',
    messages: [{ role: 'user', content: 'Hi' }],
  });
  t.is(missing.status, 404);
  t.deepEqual(missing.body, {
    error: {
      message: 'Model nobody/none does not exist',
      type: 'invalid_request_error',
      param: null,
      code: 'model_not_found',
    },
  });
  const noChatTemplate = await post(`${srv.url}/v1/chat/completions`, {
    model: 'test/gpt2-tiny',
    messages: [{ role: 'user', content: 'Hi' }],
  });
  t.is(noChatTemplate.status, 400);
  t.regex((noChatTemplate.body as { error: { message: string } }).error.message, /chat_template/);

  const streamOther = await post(`${srv.url}/pipeline/conversational/test/qwen2-tiny`, {
    inputs: { text: 'Hi' },
    stream: true,
  });
  t.is(streamOther.status, 400);
});

test.serial('the result cache keeps greedy and seeded answers, never unseeded samples', async (t) => {
  // GPT-2's task_specific_params sample by default.
  const sampled = { inputs: 'The cat', parameters: { max_new_tokens: 4 } };
  const a = await post(`${srv.url}/models/test/gpt2-tiny`, sampled);
  const b = await post(`${srv.url}/models/test/gpt2-tiny`, sampled);
  t.is(a.status, 200);
  t.is(b.status, 200);
  t.is(a.headers['x-cache'], undefined);
  t.is(b.headers['x-cache'], undefined);

  const explicit = { inputs: 'The dog', parameters: { max_new_tokens: 4, do_sample: true } };
  await post(`${srv.url}/models/test/llama-tiny`, explicit);
  t.is((await post(`${srv.url}/models/test/llama-tiny`, explicit)).headers['x-cache'], undefined);

  const seeded = { inputs: 'The cat', parameters: { max_new_tokens: 4, seed: 7 } };
  const c = await post(`${srv.url}/models/test/gpt2-tiny`, seeded);
  const d = await post(`${srv.url}/models/test/gpt2-tiny`, seeded);
  t.is(c.headers['x-cache'], 'miss');
  t.is(d.headers['x-cache'], 'hit');
  t.deepEqual(c.body, d.body);

  const greedy = { inputs: 'The bird', parameters: { max_new_tokens: 4, do_sample: false } };
  t.is((await post(`${srv.url}/models/test/gpt2-tiny`, greedy)).headers['x-cache'], 'miss');
  t.is((await post(`${srv.url}/models/test/gpt2-tiny`, greedy)).headers['x-cache'], 'hit');
});

test.serial('"stream": true on /models sends TGI events ending with the non-streamed text', async (t) => {
  const parameters = { max_new_tokens: 10, details: true };
  const whole = await post(`${srv.url}/models/test/llama-tiny`, { inputs: 'Once upon', parameters });
  const item = (whole.body as Item[])[0] as Item;
  const res = await post(`${srv.url}/models/test/llama-tiny`, {
    inputs: 'Once upon',
    parameters,
    stream: true,
  });
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^text\/event-stream/);
  const events = sseData(res.text).map((d) => JSON.parse(d));
  t.is(events.length, 10);
  const last = events.at(-1);
  for (const e of events.slice(0, -1)) {
    t.is(e.generated_text, null);
    t.is(e.details, null);
  }
  t.is(last.generated_text, item.generated_text);
  t.deepEqual(last.details, {
    finish_reason: 'length',
    generated_tokens: 10,
    input_length: promptLength('llama-tiny', 'Once upon'),
    seed: null,
  });
  const tokens = item.details?.tokens as Array<{ id: number; logprob: number }>;
  t.deepEqual(
    events.map((e) => e.token.id),
    tokens.map((x) => x.id),
  );
  for (const [i, e] of events.entries()) t.true(Math.abs(e.token.logprob - (tokens[i]?.logprob ?? 0)) < 1e-6);
});

test.serial(
  'TGI /generate and /generate_stream: return_full_text false by default, details, stop',
  async (t) => {
    const ref = await reference('text-generation', 'llama-tiny');
    const expected = (await ref('Hello world', { max_new_tokens: 8, return_full_text: false })) as Item[];
    const res = await post(`${srv.url}/generate`, {
      inputs: 'Hello world',
      parameters: { max_new_tokens: 8, details: true },
      model: 'test/llama-tiny',
    });
    t.is(res.status, 200);
    const body = res.body as { generated_text: string; details: Record<string, unknown> };
    t.is(body.generated_text, expected[0]?.generated_text as string);
    t.is(body.details.finish_reason, 'length');
    t.is(body.details.generated_tokens, 8);
    t.is(body.details.seed, null);
    t.deepEqual(body.details.prefill, []);
    t.is((body.details.tokens as unknown[]).length, 8);

    const noDetails = await post(`${srv.url}/generate`, {
      inputs: 'Hello world',
      parameters: { max_new_tokens: 8 },
    });
    t.deepEqual(Object.keys(noDetails.body as object), ['generated_text']);

    const stream = await post(`${srv.url}/generate_stream`, {
      inputs: 'Hello world',
      parameters: { max_new_tokens: 8 },
      model: 'test/llama-tiny',
    });
    const events = sseData(stream.text).map((d) => JSON.parse(d));
    t.is(events.at(-1).generated_text, body.generated_text);
    t.is(events.at(-1).details.generated_tokens, 8);

    // A stop string (ending on a token boundary) ends the sequence; TGI keeps it in the text.
    const toks = body.details.tokens as Array<{ text: string }>;
    const stopAt = `${toks[0]?.text}${toks[1]?.text}`;
    const stopped = await post(`${srv.url}/generate`, {
      inputs: 'Hello world',
      parameters: { max_new_tokens: 8, stop: [stopAt], details: true },
      model: 'test/llama-tiny',
    });
    const s = stopped.body as { generated_text: string; details: { finish_reason: string } };
    t.is(s.details.finish_reason, 'stop_sequence');
    t.is(s.generated_text, stopAt);
  },
);

test.serial('openai client: completions, streamed and not, equal the pipeline output', async (t) => {
  const ref = await reference('text-generation', 'llama-tiny');
  const expected = (await ref('The weather is', { max_new_tokens: 9, return_full_text: false })) as Item[];
  const client = openai();
  const done = await client.completions.create({
    model: 'test/llama-tiny',
    prompt: 'The weather is',
    max_tokens: 9,
    temperature: 0,
  });
  t.is(done.object, 'text_completion');
  t.regex(done.id, /^cmpl-/);
  t.is(done.model, 'test/llama-tiny');
  t.true(Number.isInteger(done.created));
  t.is(done.choices[0]?.text, expected[0]?.generated_text as string);
  t.is(done.choices[0]?.finish_reason, 'length');
  const promptTokens = promptLength('llama-tiny', 'The weather is');
  t.deepEqual(done.usage, {
    prompt_tokens: promptTokens,
    completion_tokens: 9,
    total_tokens: promptTokens + 9,
  });

  const stream = await client.completions.create({
    model: 'test/llama-tiny',
    prompt: 'The weather is',
    max_tokens: 9,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  const reasons: Array<string | null> = [];
  let usage: unknown;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.text;
      reasons.push(c.finish_reason);
    }
  }
  t.is(text, String(done.choices[0]?.text));
  t.is(reasons.at(-1), 'length');
  t.deepEqual(usage, done.usage);

  // Two prompts: one choice each, in order, each as the pipeline answers it alone.
  const two = await client.completions.create({
    model: 'test/llama-tiny',
    prompt: ['The weather is', 'Hi'],
    max_tokens: 3,
  });
  t.deepEqual(
    two.choices.map((c) => c.index),
    [0, 1],
  );
  const alone = (await ref(['The weather is', 'Hi'], {
    max_new_tokens: 3,
    return_full_text: false,
  })) as Item[][];
  t.deepEqual(
    two.choices.map((c) => c.text),
    alone.map((items) => items[0]?.generated_text),
  );
  t.is(two.usage?.completion_tokens, 6);
});

test.serial('openai client: chat completions, streamed and not, equal the pipeline output', async (t) => {
  const ref = await reference('text-generation', 'qwen2-tiny');
  const messages = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Name a colour' },
  ];
  const expected = (await ref(messages, { max_new_tokens: 7, return_full_text: false })) as Item[];
  const client = openai();
  const done = await client.chat.completions.create({ model: 'test/qwen2-tiny', messages, max_tokens: 7 });
  t.is(done.object, 'chat.completion');
  t.regex(done.id, /^chatcmpl-/);
  t.is(done.choices[0]?.message.role, 'assistant');
  t.is(done.choices[0]?.message.content, expected[0]?.generated_text as string);
  t.true(['stop', 'length'].includes(String(done.choices[0]?.finish_reason)));
  t.true((done.usage?.prompt_tokens ?? 0) > 5);
  t.is(done.usage?.total_tokens, (done.usage?.prompt_tokens ?? 0) + (done.usage?.completion_tokens ?? 0));

  const stream = await client.chat.completions.create({
    model: 'test/qwen2-tiny',
    messages,
    max_tokens: 7,
    stream: true,
  });
  let text = '';
  let role: string | undefined;
  let finish: string | null = null;
  for await (const chunk of stream) {
    t.is(chunk.object, 'chat.completion.chunk');
    const c = chunk.choices[0];
    if (c?.delta.role) role = c.delta.role;
    text += c?.delta.content ?? '';
    if (c?.finish_reason) finish = c.finish_reason;
  }
  t.is(role, 'assistant');
  t.is(text, String(done.choices[0]?.message.content));
  t.is(finish, done.choices[0]?.finish_reason ?? null);

  // A stop string is cut from the text, streamed or not.
  const detailed = (await ref(messages, {
    max_new_tokens: 7,
    return_full_text: false,
    details: true,
  })) as Item[];
  const toks = detailed[0]?.details?.tokens as Array<{ text: string }>;
  const stop = `${toks[1]?.text}${toks[2]?.text}`;
  const full = String(done.choices[0]?.message.content);
  t.true(stop.length > 0 && full.includes(stop));
  const cut = await client.chat.completions.create({
    model: 'test/qwen2-tiny',
    messages,
    max_tokens: 7,
    stop,
  });
  t.is(cut.choices[0]?.message.content, full.slice(0, full.indexOf(stop)));
  t.is(cut.choices[0]?.finish_reason, 'stop');
  const cutStream = await client.chat.completions.create({
    model: 'test/qwen2-tiny',
    messages,
    max_tokens: 7,
    stop,
    stream: true,
  });
  let streamedCut = '';
  for await (const chunk of cutStream) streamedCut += chunk.choices[0]?.delta.content ?? '';
  t.is(streamedCut, String(cut.choices[0]?.message.content));

  await t.throwsAsync(() => client.chat.completions.create({ model: 'none/such', messages }), {
    message: /does not exist/,
  });
});

test.serial(
  '@huggingface/inference: textGeneration, textGenerationStream, chatCompletion, chatCompletionStream',
  async (t) => {
    const ref = await reference('text-generation', 'llama-tiny');
    const client = new InferenceClient(undefined, { endpointUrl: `${srv.url}/models/test/llama-tiny` });
    const expected = (await ref('A story about', { max_new_tokens: 6, return_full_text: false })) as Item[];
    const out = await client.textGeneration({ inputs: 'A story about', parameters: { max_new_tokens: 6 } });
    t.is(out.generated_text, expected[0]?.generated_text as string);

    let streamed = '';
    for await (const chunk of client.textGenerationStream({
      inputs: 'A story about',
      parameters: { max_new_tokens: 6 },
    })) {
      const c = chunk as unknown as { choices: Array<{ text: string }> };
      streamed += c.choices[0]?.text ?? '';
    }
    t.is(streamed, out.generated_text);

    const messages = [{ role: 'user', content: 'Tell me a joke' }];
    const chatRef = (await ref(messages, { max_new_tokens: 6, return_full_text: false })) as Item[];
    const chat = await client.chatCompletion({ messages, max_tokens: 6 });
    t.is(chat.choices[0]?.message.content, chatRef[0]?.generated_text as string);
    t.is(chat.model, 'test/llama-tiny');
    let chatStreamed = '';
    for await (const chunk of client.chatCompletionStream({ messages, max_tokens: 6 })) {
      chatStreamed += chunk.choices[0]?.delta.content ?? '';
    }
    t.is(chatStreamed, String(chat.choices[0]?.message.content));

    // The /v1 base URL works too, the model then comes from `model`.
    const v1 = new InferenceClient(undefined, { endpointUrl: `${srv.url}/v1` });
    const viaV1 = await v1.chatCompletion({ model: 'test/llama-tiny', messages, max_tokens: 6 });
    t.is(viaV1.choices[0]?.message.content, chat.choices[0]?.message.content);
  },
);

test.serial('max_new_tokens over the server limit is a 413 naming the setting', async (t) => {
  const res = await post(`${srv.url}/models/test/llama-tiny`, {
    inputs: 'Hi',
    parameters: { max_new_tokens: 5000 },
  });
  t.is(res.status, 413);
  t.regex(String((res.body as { error: string }).error), /--max-new-tokens/);
  const oa = await post(`${srv.url}/v1/completions`, {
    model: 'test/llama-tiny',
    prompt: 'Hi',
    max_tokens: 5000,
  });
  t.is(oa.status, 413);
  t.is(typeof (oa.body as { error: { message: string } }).error.message, 'string');
});

test.serial(
  'generation metrics: time to first token, inter-token latency, tokens, active sequences',
  async (t) => {
    const before = (await get(`${srv.url}/metrics`)).text;
    const model = { model: 'test/llama-tiny' };
    const tokens0 = metricValue(before, 'hf_tasks_generation_generated_tokens_total', model);
    const ttft0 = metricValue(before, 'hf_tasks_generation_time_to_first_token_seconds_count', model);
    const itl0 = metricValue(before, 'hf_tasks_generation_inter_token_latency_seconds_count', model);
    const res = await post(`${srv.url}/models/test/llama-tiny`, {
      inputs: 'Metrics please',
      parameters: { max_new_tokens: 5 },
      options: { use_cache: false },
    });
    t.is(res.status, 200);
    const after = (await get(`${srv.url}/metrics`)).text;
    t.is(metricValue(after, 'hf_tasks_generation_generated_tokens_total', model) - tokens0, 5);
    t.is(metricValue(after, 'hf_tasks_generation_time_to_first_token_seconds_count', model) - ttft0, 1);
    t.is(metricValue(after, 'hf_tasks_generation_inter_token_latency_seconds_count', model) - itl0, 4);
    t.is(metricValue(after, 'hf_tasks_generation_active_sequences', model), 0);
  },
);

test.serial('maxNewTokens is a config file key, checked', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hf-tasks-gen-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ maxNewTokens: 64 }));
  t.is(readConfigFile(file).maxNewTokens, 64);
  writeFileSync(file, JSON.stringify({ maxNewTokens: 0 }));
  t.throws(() => readConfigFile(file), { message: /maxNewTokens must be an integer/ });
});

test.serial('greedy completions on each decoder fixture: streamed = non-streamed = pipeline', async (t) => {
  const client = openai();
  for (const name of ['gpt2-tiny', 'llama-tiny', 'qwen2-tiny']) {
    const ref = await reference('text-generation', name);
    const prompt = 'It was a dark and stormy night';
    const expected = (await ref(prompt, {
      max_new_tokens: 12,
      do_sample: false,
      return_full_text: false,
    })) as Item[];
    const model = `test/${name}`;
    const done = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0 });
    t.is(done.choices[0]?.text, expected[0]?.generated_text as string, name);
    const stream = await client.completions.create({
      model,
      prompt,
      max_tokens: 12,
      temperature: 0,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    t.is(text, String(done.choices[0]?.text), name);
  }
});

test.serial('OpenAI paths under /models/{id} answer errors in the OpenAI shape', async (t) => {
  const res = await post(`${srv.url}/models/nobody/none/v1/chat/completions`, {
    messages: [{ role: 'user', content: 'Hi' }],
  });
  t.is(res.status, 404);
  t.is((res.body as { error: { code: string } }).error.code, 'model_not_found');
  const bad = await post(`${srv.url}/models/test/llama-tiny/v1/completions`, { prompt: 'Hi', max_tokens: 0 });
  t.is(bad.status, 400);
  t.is((bad.body as { error: { type: string } }).error.type, 'invalid_request_error');
});

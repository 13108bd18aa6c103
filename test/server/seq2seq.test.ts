/**
 * Encoder-decoder generation over HTTP: text2text-generation, summarization and translation on
 * `/models/{id}` and `/pipeline/{task}/{id}`, `"stream": true`, and the official
 * `@huggingface/inference` client's summarization, translation and textGeneration calls, unchanged.
 * Answers are compared with the library's pipeline on the same fixture (itself checked against
 * the reference in test/tasks/seq2seq.test.ts).
 */
import { InferenceClient } from '@huggingface/inference';
import test from 'ava';
import { pipeline } from '../../ts/index.js';
import { fixtureModel, post, startTestServer, type TestServer } from './helpers.js';

type RefPipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };

let srv: TestServer;
const refs = new Map<string, RefPipe>();

test.before(async () => {
  srv = await startTestServer({
    models: [
      // No task given: inferred from config.json (T5/BART: text2text-generation, Marian:
      // translation); an encoder-decoder serves all three tasks.
      { id: 'test/t5-tiny', path: fixtureModel('t5-tiny'), tasks: [] },
      { id: 'test/bart-tiny', path: fixtureModel('bart-tiny'), tasks: ['summarization'] },
      { id: 'test/marian-tiny', path: fixtureModel('marian-tiny'), tasks: [] },
      { id: 'test/mbart-tiny', path: fixtureModel('mbart-tiny'), tasks: ['translation'] },
    ],
  });
});

test.after.always(async () => {
  await srv?.close();
  for (const p of refs.values()) await p.dispose();
});

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

const TEXT = 'The Eiffel Tower in Paris is 330 metres tall.';

test('/models and /pipeline answer as the pipeline does, for each task a model serves', async (t) => {
  const t5 = await post(`${srv.url}/models/test/t5-tiny`, {
    inputs: TEXT,
    parameters: { max_new_tokens: 8 },
  });
  t.is(t5.status, 200);
  t.deepEqual(
    t5.body,
    await (await reference('text2text-generation', 't5-tiny'))(TEXT, { max_new_tokens: 8 }),
  );
  const summary = await post(`${srv.url}/pipeline/summarization/test/t5-tiny`, {
    inputs: TEXT,
    parameters: { max_new_tokens: 8, num_beams: 2 },
  });
  t.is(summary.status, 200);
  t.deepEqual(
    summary.body,
    await (await reference('summarization', 't5-tiny'))(TEXT, { max_new_tokens: 8, num_beams: 2 }),
  );
  t.truthy((summary.body as Array<{ summary_text: string }>)[0]?.summary_text !== undefined);
  const marian = await post(`${srv.url}/models/test/marian-tiny`, { inputs: [TEXT, 'Hello'] });
  t.is(marian.status, 200);
  t.deepEqual(marian.body, await (await reference('translation', 'marian-tiny'))([TEXT, 'Hello']));
  const mbart = await post(`${srv.url}/models/test/mbart-tiny`, {
    inputs: TEXT,
    parameters: { src_lang: 'en_XX', tgt_lang: 'ro_RO', num_beams: 1, max_new_tokens: 6 },
  });
  t.is(mbart.status, 200);
  t.deepEqual(
    mbart.body,
    await (await reference('translation', 'mbart-tiny'))(TEXT, {
      src_lang: 'en_XX',
      tgt_lang: 'ro_RO',
      num_beams: 1,
      max_new_tokens: 6,
    }),
  );
});

test('bad input answers 400 with the message', async (t) => {
  const lang = await post(`${srv.url}/models/test/mbart-tiny`, {
    inputs: TEXT,
    parameters: { src_lang: 'en_XX', tgt_lang: 'xx_XX' },
  });
  t.is(lang.status, 400);
  t.regex(JSON.stringify(lang.body), /unknown tgt_lang/);
  const beams = await post(`${srv.url}/models/test/bart-tiny`, {
    inputs: TEXT,
    parameters: { num_beams: 2, num_return_sequences: 3 },
  });
  t.is(beams.status, 400);
  const long = await post(`${srv.url}/models/test/bart-tiny`, { inputs: 'word '.repeat(300) });
  t.is(long.status, 400);
  t.regex(JSON.stringify(long.body), /Input is too long/);
  const empty = await post(`${srv.url}/models/test/bart-tiny`, { inputs: [] });
  t.is(empty.status, 400);
});

test('"stream": true sends TGI events ending with the non-streamed text', async (t) => {
  const parameters = { num_beams: 1, max_new_tokens: 6 };
  const whole = await post(`${srv.url}/models/test/marian-tiny`, { inputs: TEXT, parameters });
  const res = await post(`${srv.url}/models/test/marian-tiny`, { inputs: TEXT, parameters, stream: true });
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^text\/event-stream/);
  const events = res.text
    .split('\n\n')
    .map((b) => b.trim())
    .filter((b) => b.startsWith('data: '))
    .map((b) => JSON.parse(b.slice(6)) as { token: { id: number }; generated_text: string | null });
  t.true(events.length >= 1);
  t.is(
    events.at(-1)?.generated_text,
    (whole.body as Array<{ translation_text: string }>)[0]?.translation_text,
  );
});

test('@huggingface/inference summarization, translation and textGeneration work unchanged', async (t) => {
  const client = (path: string) => new InferenceClient(undefined, { endpointUrl: `${srv.url}${path}` });
  const summary = await client('/models/test/bart-tiny').summarization({ inputs: TEXT });
  t.deepEqual(summary, ((await (await reference('summarization', 'bart-tiny'))(TEXT)) as unknown[])[0]);
  const translated = await client('/models/test/marian-tiny').translation({ inputs: TEXT });
  t.deepEqual(translated, ((await (await reference('translation', 'marian-tiny'))(TEXT)) as unknown[])[0]);
  const mbart = await client('/models/test/mbart-tiny').translation({
    inputs: TEXT,
    parameters: { src_lang: 'en_XX', tgt_lang: 'ro_RO' },
  });
  t.deepEqual(
    mbart,
    (
      (await (
        await reference('translation', 'mbart-tiny')
      )(TEXT, { src_lang: 'en_XX', tgt_lang: 'ro_RO' })) as unknown[]
    )[0],
  );
  // textGeneration posts an OpenAI completion to {endpoint}/v1/completions.
  const generated = await client('/models/test/t5-tiny').textGeneration({
    inputs: TEXT,
    parameters: { max_new_tokens: 8 },
  });
  const expected = (
    (await (
      await reference('text2text-generation', 't5-tiny')
    )(TEXT, { max_new_tokens: 8 })) as Array<{
      generated_text: string;
    }>
  )[0];
  t.is(generated.generated_text, String(expected?.generated_text));
});

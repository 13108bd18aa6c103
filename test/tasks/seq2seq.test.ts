/**
 * text2text-generation, summarization and translation parity with transformers 4.57.3's pipelines
 * on the same ONNX files (test/fixtures/goldens/seq2seq.json, made by
 * scripts/fixtures/make_seq2seq_goldens.py): T5 (task prefixes), BART (bart-large-cnn-like beams,
 * length penalty, no-repeat n-grams, forced BOS/EOS; split decoder layout), Marian (transformers.js
 * layout) and mBART (language codes). Texts exact for greedy and beam search; greedy token ids
 * exact through the token stream; the same results when every case runs at once (continuous
 * batching); the reference's errors as 400s.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { HfTasksError, type Pipe, pipeline } from '../../ts/index.js';
import { openFolderTokenizer } from '../../ts/runtime/vocab-tokenizer.js';
import type { TextGenerationStreamEvent } from '../../ts/types/text-generation.js';
import { fixtures, modelDir } from './goldens.js';

interface Case {
  model: string;
  task: string;
  inputs: string | string[];
  parameters: Record<string, unknown>;
  output?: unknown;
  generated_ids?: number[][];
  input_ids?: number[];
  items?: Case[];
  error?: { type: string; message: string };
}

const goldens = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'seq2seq.json'), 'utf8')) as {
  cases: Case[];
};

type Seq2SeqPipe = Pipe<'translation'>;
const pipes = new Map<string, Promise<Seq2SeqPipe>>();
function pipeFor(model: string, task: string, workers = 0): Promise<Seq2SeqPipe> {
  const key = `${model} ${task} ${workers}`;
  let p = pipes.get(key);
  if (p === undefined) {
    p = pipeline(task as 'translation', modelDir(model), { workers }) as Promise<Seq2SeqPipe>;
    pipes.set(key, p);
  }
  return p;
}
test.after.always(async () => {
  for (const p of pipes.values()) await (await p).dispose();
});

function label(c: Case): string {
  return `${c.model} ${c.task} ${JSON.stringify(c.inputs).slice(0, 40)} ${JSON.stringify(c.parameters)}`;
}

/**
 * A language code the tokenizer lacks: the reference's mBART tokenizer silently uses `<unk>`;
 * this library answers 400 (README: deliberate differences).
 */
function unknownLanguage(c: Case): boolean {
  const tok = openFolderTokenizer(modelDir(c.model));
  // M2M100 spells a language `__en__`.
  return [c.parameters.src_lang, c.parameters.tgt_lang].some(
    (l) => typeof l === 'string' && tok.tokenToId(l) === null && tok.tokenToId(`__${l}__`) === null,
  );
}

const ok = goldens.cases.filter((c) => c.error === undefined && !unknownLanguage(c));
const failing = goldens.cases.filter((c) => c.error !== undefined || unknownLanguage(c));

test('the goldens cover every model, task and decoding mode', (t) => {
  const models = new Set(goldens.cases.map((c) => c.model));
  t.deepEqual([...models].sort(), [
    'bart-tiny',
    'm2m100-spm-tiny',
    'marian-spm-tiny',
    'marian-tiny',
    'mbart-tiny',
    't5-tiny',
  ]);
  const tasks = new Set(goldens.cases.map((c) => c.task));
  for (const task of ['summarization', 'translation', 'text2text-generation', 'translation_en_to_fr'])
    t.true(tasks.has(task), task);
  t.true(ok.length > 150, `${ok.length} cases`);
  t.true(failing.length >= 5);
  // Beams that finish before the length limit (EOS kept), and ones that run to it.
  const ended = ok.filter((c) => c.generated_ids?.some((ids) => ids.length < 20));
  t.true(ended.length > 20, `${ended.length} cases end early`);
});

for (const [model, task] of [...new Set(ok.map((c) => `${c.model}\u0000${c.task}`))].map((k) =>
  k.split('\u0000'),
)) {
  const cases = ok.filter((c) => c.model === model && c.task === task);
  test(`${model} ${task}: ${cases.length} cases equal the reference`, async (t) => {
    const pipe = await pipeFor(model as string, task as string);
    for (const c of cases) {
      const out = await pipe(c.inputs as string, c.parameters as never);
      t.deepEqual(out, c.output, label(c));
    }
  });
}

test('greedy token ids equal the reference, streamed one by one', async (t) => {
  const greedy = ok.filter(
    (c) => typeof c.inputs === 'string' && c.parameters.num_beams === 1 && c.generated_ids !== undefined,
  );
  t.true(greedy.length > 20);
  for (const c of greedy) {
    const pipe = await pipeFor(c.model, c.task);
    const ids: number[] = [];
    for await (const e of pipe.stream(c.inputs as string, c.parameters as never)) {
      if (e.type === 'token') ids.push(e.token.id);
    }
    // The reference's sequence starts with the decoder start token.
    t.deepEqual(ids, (c.generated_ids?.[0] ?? []).slice(1), label(c));
  }
});

test('every case at once through one worker engine gives the same results (continuous batching)', async (t) => {
  // max_time cases are left out: under this load the wall clock, not batching, would cut them.
  const sample = ok.filter(
    (c) => (c.model === 'bart-tiny' || c.model === 'mbart-tiny') && c.parameters.max_time === undefined,
  );
  const results = await Promise.all(
    sample.map(async (c) => {
      const pipe = await pipeFor(c.model, c.task, 1);
      return pipe(c.inputs as string, c.parameters as never);
    }),
  );
  sample.forEach((c, i) => {
    t.deepEqual(results[i], c.output, label(c));
  });
});

async function rejects(t: ExecutionContext, c: Case): Promise<void> {
  const pipe = await pipeFor(c.model, c.task);
  const err = await t.throwsAsync(pipe(c.inputs as string, c.parameters as never), undefined, label(c));
  t.true(err instanceof HfTasksError, `${label(c)}: ${String(err)}`);
  t.true(
    ['ERR_INVALID_INPUT', 'ERR_INVALID_PARAMETER'].includes((err as HfTasksError).code),
    `${label(c)}: ${(err as HfTasksError).code} ${err?.message}`,
  );
}

test('the reference errors are 400s', async (t) => {
  for (const c of failing) await rejects(t, c);
});

test('streaming: token events then one end event per sequence whose text is the output', async (t) => {
  const c = ok.find((x) => x.model === 'marian-tiny' && x.parameters.num_beams === 1) as Case;
  const pipe = await pipeFor(c.model, c.task);
  const events: TextGenerationStreamEvent[] = [];
  for await (const e of pipe.stream(c.inputs as string, c.parameters as never)) events.push(e);
  const end = events.at(-1);
  t.is(end?.type, 'end');
  t.deepEqual([{ translation_text: end?.type === 'end' ? end.generated_text : null }], c.output);
  t.true(events.filter((e) => e.type === 'token').length >= 1);
});

test('cancellation stops a beam search and rejects with ERR_ABORTED', async (t) => {
  const pipe = await pipeFor('t5-tiny', 'summarization');
  const controller = new AbortController();
  const call = pipe('My name is Sarah and I live in London.', {}, { signal: controller.signal });
  setTimeout(() => controller.abort(), 5);
  const err = await t.throwsAsync(call);
  t.is((err as HfTasksError).code, 'ERR_ABORTED');
});

test('bad input: an unknown language, empty list, too many sequences, an over-long input', async (t) => {
  const mbart = await pipeFor('mbart-tiny', 'translation');
  const bad = async (p: Promise<unknown>, re: RegExp) => {
    const err = await t.throwsAsync(p);
    t.regex(err?.message ?? '', re);
    t.true(err instanceof HfTasksError);
  };
  await bad(mbart('Hello', { src_lang: 'xx_YY', tgt_lang: 'ro_RO' } as never), /unknown src_lang "xx_YY"/);
  await bad(mbart('Hello', { src_lang: 'en_XX', tgt_lang: 'zz_ZZ' } as never), /unknown tgt_lang "zz_ZZ"/);
  await bad(mbart('Hello', { src_lang: 'en_XX' } as never), /requires a `src_lang` and a `tgt_lang`/);
  await bad(mbart([] as never), /empty list/);
  await bad(mbart(42 as never), /wrong format/);
  await bad(
    mbart('Hello', { src_lang: 'en_XX', tgt_lang: 'ro_RO', num_beams: 2, num_return_sequences: 3 } as never),
    /has to be smaller or equal to `num_beams`/,
  );
  const bart = await pipeFor('bart-tiny', 'summarization');
  await bad(bart('word '.repeat(200)), /Input is too long: \d+ tokens, but this model accepts at most 64/);
  await bad(bart('Hello', { max_new_tokens: 1_000_000 } as never), /maxNewTokensLimit/);
  await bad(bart('Hello', { no_such_option: 1 } as never), /not a summarization parameter/);
  // Nested generate_parameters (the Inference API spec) are read too.
  const nested = await bart('Hello', { generate_parameters: { num_beams: 1, max_new_tokens: 3 } } as never);
  const flat = await bart('Hello', { num_beams: 1, max_new_tokens: 3 } as never);
  t.deepEqual(nested, flat);
});

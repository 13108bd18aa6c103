import test from 'ava';
import { InvalidInputError, InvalidParameterError, pipeline } from '../../ts/index.js';
import { goldenTests, modelDir, PipeCache } from './goldens.js';

const pipes = new PipeCache('text-classification');
test.after.always(() => pipes.dispose());

goldenTests(test, 'text-classification', pipes);

test('alias sentiment-analysis, single string -> flat list of every label sorted by score', async (t) => {
  const pipe = await pipeline('sentiment-analysis', modelDir('bert-sentiment'));
  t.is(pipe.task, 'text-classification');
  const out = await pipe('I love this movie, it was absolutely wonderful!');
  t.deepEqual(
    out.map((o) => o.label),
    ['NEUTRAL', 'POSITIVE', 'NEGATIVE'],
  );
  t.true(Math.abs(out.reduce((a, o) => a + o.score, 0) - 1) < 1e-5);
  await pipe.dispose();
});

test('a list of inputs gives one list per input, the same as one call each', async (t) => {
  const pipe = await pipes.get('bert-sentiment');
  const texts = [
    'I love this movie.',
    { text: 'A man plays a guitar.', text_pair: 'Someone plays music.' },
    '',
  ];
  const batch = (await pipe(texts as never)) as unknown as Array<Array<{ label: string; score: number }>>;
  t.is(batch.length, 3);
  for (let i = 0; i < texts.length; i++) {
    const one = (await pipe(texts[i] as never)) as unknown as Array<{ label: string; score: number }>;
    t.deepEqual(
      batch[i]!.map((o) => o.label),
      one.map((o) => o.label),
    );
    for (let j = 0; j < one.length; j++) t.true(Math.abs(batch[i]![j]!.score - one[j]!.score) < 1e-5);
  }
});

test('top_k slices with Python semantics: 0 -> [], negative drops from the end', async (t) => {
  const pipe = await pipes.get('bert-multilabel');
  const all = await pipe('The match ended in a draw.');
  t.is(all.length, 4);
  t.deepEqual(await pipe('The match ended in a draw.', { top_k: 0 }), []);
  const dropped = await pipe('The match ended in a draw.', { top_k: -1 });
  t.deepEqual(dropped, all.slice(0, 3));
});

test('strict parameter types: top_k "3" or 3.5, function_to_apply 1 -> InvalidParameterError', async (t) => {
  const pipe = await pipes.get('bert-sentiment');
  for (const parameters of [{ top_k: '3' }, { top_k: 3.5 }, { top_k: true }, { function_to_apply: 1 }]) {
    const err = await t.throwsAsync(pipe('hello', parameters as never), {
      instanceOf: InvalidParameterError,
    });
    t.is(err.code, 'ERR_INVALID_PARAMETER');
  }
  const err = await t.throwsAsync(pipe('hello', { function_to_apply: 'relu' as never }));
  t.regex(err.message, /"sigmoid", "softmax", "none"/);
});

test('bad inputs are 400s: wrong types, bad pair objects, empty list, lone surrogates', async (t) => {
  const pipe = await pipes.get('bert-sentiment');
  const bad: unknown[] = [
    42,
    null,
    { text: 1 },
    { text: 'a', other: 'b' },
    ['a', 'b'].map((x) => [x]),
    [],
    'abc\ud800def',
    { text: 'ok', text_pair: '\udc00' },
  ];
  for (const inputs of bad) {
    const err = await t.throwsAsync(pipe(inputs as never), { instanceOf: InvalidInputError });
    t.truthy(err.code);
  }
  const surrogate = await t.throwsAsync(pipe('abc\ud800def'));
  t.regex(surrogate.message, /lone UTF-16 surrogate/);
});

test('the pipe fails with ERR_DISPOSED after dispose()', async (t) => {
  const pipe = await pipeline('text-classification', modelDir('bert-regression'));
  t.is((await pipe('a')).length, 1);
  await pipe.dispose();
  const err = await t.throwsAsync(pipe('a'));
  t.is((err as InvalidInputError).code, 'ERR_DISPOSED');
});

test('batches are padded on the right even when the tokenizer pads on the left (positions stay put)', async (t) => {
  const { mkdtempSync, cpSync, readFileSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = mkdtempSync(path.join(tmpdir(), 'hf-tasks-leftpad-'));
  cpSync(modelDir('bert-sentiment'), dir, { recursive: true });
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(cfgFile, JSON.stringify({ ...cfg, padding_side: 'left' }));
  const pipe = await pipeline('text-classification', dir, { inline: true });
  const texts = ['Short.', 'A considerably longer sentence about the weather in Paris and Berlin today.'];
  const batch = await pipe(texts);
  for (let i = 0; i < texts.length; i++) {
    const one = await pipe(texts[i]!);
    for (let j = 0; j < one.length; j++) {
      t.is(batch[i]![j]!.label, one[j]!.label);
      t.true(Math.abs(batch[i]![j]!.score - one[j]!.score) < 1e-5);
    }
  }
  await pipe.dispose();
});

test('truncation (forwarded to the tokenizer as the reference does) makes a too-long input fit', async (t) => {
  const pipe = await pipes.get('bert-sentiment');
  const long = 'The weather is terrible and I hate waiting in line. '.repeat(20);
  const err = await t.throwsAsync(pipe(long), { instanceOf: InvalidInputError });
  t.regex(err.message, /^Input is too long/);
  const out = await pipe(long, { truncation: true } as never);
  t.is(out.length, 3);
  t.true(Math.abs(out.reduce((a, o) => a + o.score, 0) - 1) < 1e-5);
  t.deepEqual(await pipe(long, { truncation: 'only_first' } as never), out);
  await t.throwsAsync(pipe(long, { truncation: 'yes' } as never), { instanceOf: InvalidParameterError });
});

test('deprecated return_all_scores: true -> label-id order, false -> the best label', async (t) => {
  const pipe = await pipes.get('bert-sentiment');
  const text = 'I love this movie, it was absolutely wonderful!';
  const sorted = await pipe(text);
  const all = await pipe(text, { return_all_scores: true } as never);
  t.deepEqual(
    all.map((o) => o.label),
    ['NEGATIVE', 'NEUTRAL', 'POSITIVE'],
  );
  t.deepEqual(
    [...all].sort((a, b) => b.score - a.score),
    sorted,
  );
  t.deepEqual(await pipe(text, { return_all_scores: false } as never), sorted.slice(0, 1));
  // top_k wins over return_all_scores.
  t.is((await pipe(text, { return_all_scores: true, top_k: 2 } as never)).length, 2);
  await t.throwsAsync(pipe(text, { return_all_scores: 'yes' } as never), {
    instanceOf: InvalidParameterError,
  });
});

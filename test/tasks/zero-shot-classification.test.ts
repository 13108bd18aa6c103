import test from 'ava';
import { InvalidInputError, pipeline } from '../../ts/index.js';
import { pyFormat } from '../../ts/tasks/text.js';
import { entailmentIndex } from '../../ts/tasks/zero-shot-classification.js';
import { goldenTests, modelDir, PipeCache } from './goldens.js';

const pipes = new PipeCache('zero-shot-classification');
test.after.always(() => pipes.dispose());

goldenTests(test, 'zero-shot-classification', pipes);

const sequence = 'Angela Merkel met Barack Obama in Berlin to discuss the economy.';
const labels = ['politics', 'sports', 'technology'];

test('the entailment index comes from label2id in file order', (t) => {
  t.is(
    entailmentIndex([
      ['entailment', 1],
      ['contradiction', 2],
      ['neutral', 0],
    ]),
    1,
  );
  t.is(
    entailmentIndex([
      ['Entails', 2],
      ['entailment', 0],
    ]),
    2,
  );
  t.is(entailmentIndex([['yes', 0]]), -1);
});

test('list output option gives [{label, score}] in the same order', async (t) => {
  const legacy = (await (
    await pipes.get('bert-nli')
  )(sequence, { candidate_labels: labels })) as {
    labels: string[];
    scores: number[];
  };
  const pipe = await pipeline('zero-shot-classification', modelDir('bert-nli'), { zeroShotOutput: 'list' });
  const list = (await pipe(sequence, { candidate_labels: labels })) as Array<{
    label: string;
    score: number;
  }>;
  t.deepEqual(
    list.map((x) => x.label),
    legacy.labels,
  );
  list.forEach((x, i) => {
    t.true(Math.abs(x.score - legacy.scores[i]!) < 1e-6);
  });
  await pipe.dispose();
});

test('a list of sequences runs as one batch and gives what each sequence gives alone', async (t) => {
  const pipe = await pipes.get('bert-nli');
  const sequences = [sequence, 'The match ended in a draw.', `${sequence} `.repeat(12)];
  for (const multi_label of [false, true]) {
    const out = (await pipe(sequences, { candidate_labels: labels, multi_label })) as Array<{
      sequence: string;
      labels: string[];
      scores: number[];
    }>;
    t.is(out.length, sequences.length);
    for (let i = 0; i < sequences.length; i++) {
      const one = (await pipe(sequences[i]!, { candidate_labels: labels, multi_label })) as (typeof out)[0];
      t.is(out[i]!.sequence, sequences[i]!);
      t.deepEqual(out[i]!.labels, one.labels);
      one.scores.forEach((s, j) => {
        t.true(Math.abs(out[i]!.scores[j]! - s) < 1e-5);
      });
    }
  }
  const err = await t.throwsAsync(pipe([sequence, ''], { candidate_labels: labels }), {
    instanceOf: InvalidInputError,
  });
  t.is(err.message, 'You must include at least one label and at least one sequence.');
});

test('scores sum to one without multi_label and are independent with it', async (t) => {
  const pipe = await pipes.get('bert-nli');
  const single = (await pipe(sequence, { candidate_labels: labels })) as { scores: number[] };
  t.true(Math.abs(single.scores.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  const multi = (await pipe(sequence, { candidate_labels: labels, multi_label: true })) as {
    scores: number[];
  };
  t.true(multi.scores.every((s) => s > 0 && s < 1));
});

test('a premise past the window is truncated, the hypothesis kept', async (t) => {
  const pipe = await pipes.get('bert-nli');
  const long = `${sequence} `.repeat(20);
  const out = (await pipe(long, { candidate_labels: labels })) as { labels: string[] };
  t.deepEqual([...out.labels].sort(), [...labels].sort());
});

test('bad parameters and inputs are 400s with clear messages', async (t) => {
  const pipe = await pipes.get('bert-nli');
  const cases: Array<[unknown, unknown, RegExp]> = [
    [sequence, undefined, /at least one label/],
    [sequence, { candidate_labels: 3 }, /candidate_labels/],
    [sequence, { candidate_labels: ['a', 2] }, /candidate_labels\[1\]/],
    [sequence, { candidate_labels: labels, multi_label: 'yes' }, /multi_label/],
    [sequence, { candidate_labels: labels, hypothesis_template: 5 }, /hypothesis_template/],
    [sequence, { candidate_labels: labels, hypothesis_template: 'About {label}.' }, /field "label"/],
    [sequence, { candidate_labels: labels, hypothesis_template: 'About {}}.' }, /Single '}'/],
    [12, { candidate_labels: labels }, /must be a string/],
    ['\udfff', { candidate_labels: labels }, /lone UTF-16 surrogate/],
    [[], { candidate_labels: labels }, /At least one input/],
  ];
  for (const [inputs, parameters, message] of cases) {
    const err = await t.throwsAsync(pipe(inputs as never, parameters as never), {
      instanceOf: InvalidInputError,
    });
    t.regex(err.message, message);
  }
});

test('Python str.format semantics for the template', (t) => {
  t.is(pyFormat('This example is {}.', 'x'), 'This example is x.');
  t.is(pyFormat('{0} and {0} {{literal}}', 'x'), 'x and x {literal}');
  t.is(pyFormat('{!r}', "it's"), '"it\'s"');
  t.is(pyFormat('{:}', 'x'), 'x');
  t.throws(() => pyFormat('{} {0}', 'x'), { message: /cannot switch from automatic/ });
  t.throws(() => pyFormat('{1}', 'x'), {
    message: 'Replacement index 1 out of range for positional args tuple',
  });
  t.throws(() => pyFormat('oops {', 'x'), { message: "Single '{' encountered in format string" });
  t.throws(() => pyFormat('{:>10}', 'x'), { instanceOf: InvalidInputError });
});

test('a hypothesis longer than the window itself is a 400, not a network failure', async (t) => {
  const pipe = await pipes.get('bert-nli');
  const err = await t.throwsAsync(
    pipe(sequence, {
      candidate_labels: ['politics'],
      hypothesis_template: `${'This example is about {0}. '.repeat(15)}`,
    }),
    { instanceOf: InvalidInputError },
  );
  t.regex(err.message, /^Input is too long/);
});

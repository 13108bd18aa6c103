import test from 'ava';
import { InvalidInputError, InvalidParameterError, ModelError, pipeline } from '../../ts/index.js';
import { goldenTests, modelDir, PipeCache } from './goldens.js';

const pipes = new PipeCache('fill-mask');
test.after.always(() => pipes.dispose());

goldenTests(test, 'fill-mask', pipes);

interface Candidate {
  score: number;
  token: number;
  token_str: string;
  sequence: string;
}

test('a batch of inputs gives the same candidates as single calls', async (t) => {
  const pipe = await pipes.get('bert-mlm');
  const texts = ['Paris is the [MASK] of France.', 'The [MASK] sat on the [MASK].', '[MASK] world!'];
  const batch = (await pipe(texts)) as unknown[];
  for (let i = 0; i < texts.length; i++) {
    const one = await pipe(texts[i]!);
    const a = JSON.stringify(batch[i], (_k, v) => (typeof v === 'number' ? Math.round(v * 1e5) : v));
    const b = JSON.stringify(one, (_k, v) => (typeof v === 'number' ? Math.round(v * 1e5) : v));
    t.is(a, b);
  }
});

test('targets cap top_k and keep the full-vocabulary probabilities', async (t) => {
  const pipe = await pipes.get('roberta-mlm');
  const all = (await pipe('Paris is the <mask> of France.', { top_k: 1 })) as Candidate[];
  const best = all[0]!;
  const restricted = (await pipe('Paris is the <mask> of France.', {
    targets: [best.token_str, ' qqzzxx'],
    top_k: 10,
  })) as Candidate[];
  t.true(restricted.length <= 2);
  t.is(restricted[0]!.token, best.token);
  t.true(Math.abs(restricted[0]!.score - best.score) < 1e-6);
});

test('strict parameter types', async (t) => {
  const pipe = await pipes.get('bert-mlm');
  for (const parameters of [
    { top_k: 0 },
    { top_k: '3' },
    { top_k: 2.5 },
    { targets: 5 },
    { targets: ['a', 1] },
  ]) {
    const err = await t.throwsAsync(pipe('a [MASK]', parameters as never), { instanceOf: InvalidInputError });
    t.truthy(err.code);
  }
  const err = await t.throwsAsync(pipe('a [MASK]', { top_k: 0 }), { instanceOf: InvalidParameterError });
  t.is(err.field, 'top_k');
});

test('missing mask, wrong types, lone surrogates -> 400', async (t) => {
  const pipe = await pipes.get('bert-mlm');
  const err = await t.throwsAsync(pipe(['a [MASK]', 'no mask here']), { instanceOf: InvalidInputError });
  t.is(err.message, 'No mask_token ([MASK]) found on the input');
  for (const inputs of [null, 3, { text: 'x' }, '[MASK] \ud800']) {
    await t.throwsAsync(pipe(inputs as never), { instanceOf: InvalidInputError });
  }
});

test('a model whose tokenizer has no mask token is refused at load', async (t) => {
  // The NER fixture's tokenizer is a cased BERT one whose config lists [MASK]; use a copy without it.
  const { mkdtempSync, cpSync, readFileSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = mkdtempSync(path.join(tmpdir(), 'hf-tasks-nomask-'));
  cpSync(modelDir('roberta-ner'), dir, { recursive: true });
  for (const file of ['tokenizer_config.json', 'special_tokens_map.json']) {
    const p = path.join(dir, file);
    const json = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
    delete json.mask_token;
    writeFileSync(p, JSON.stringify(json));
  }
  const err = await t.throwsAsync(pipeline('fill-mask', dir), { instanceOf: ModelError });
  t.is(err.message, 'The tokenizer does not define a `mask_token`.');
});

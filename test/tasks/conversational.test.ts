/**
 * conversational (legacy contract): turns interleaved and rendered with the chat template, greedy,
 * the reference answer (transformers 4.57.3's text-generation chat path on the same messages,
 * test/fixtures/goldens/text-generation.json `conversational`), and the wrapped output.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { InvalidInputError, pipeline } from '../../ts/index.js';
import { fixtures, modelDir } from './goldens.js';

interface ConvCase {
  model: string;
  inputs: { text: string; past_user_inputs?: string[]; generated_responses?: string[] };
  parameters: Record<string, unknown>;
  generated_text: string;
}

const goldens = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'text-generation.json'), 'utf8')) as {
  conversational: ConvCase[];
};

for (const model of ['llama-tiny', 'qwen2-tiny']) {
  test(`${model}: answers as the reference chat path and extends the conversation`, async (t) => {
    const pipe = await pipeline('conversational', modelDir(model), { workers: 0 });
    const cases = goldens.conversational.filter((c) => c.model === model);
    t.true(cases.length >= 2);
    for (const c of cases) {
      const out = await pipe(c.inputs, c.parameters);
      t.is(out.generated_text, c.generated_text);
      t.deepEqual(out.conversation.past_user_inputs, [...(c.inputs.past_user_inputs ?? []), c.inputs.text]);
      t.deepEqual(out.conversation.generated_responses, [
        ...(c.inputs.generated_responses ?? []),
        c.generated_text,
      ]);
    }
    await pipe.dispose();
  });
}

test('a model without a chat template is a 400 that says so', async (t) => {
  await t.throwsAsync(pipeline('conversational', modelDir('gpt2-tiny'), { workers: 0 }), {
    instanceOf: InvalidInputError,
    message: /chat template/,
  });
});

test('bad conversations and parameters are 400s', async (t) => {
  const pipe = await pipeline('conversational', modelDir('llama-tiny'), { workers: 0 });
  for (const bad of [
    42,
    { text: 3 },
    { text: 'x', past_user_inputs: 'no' },
    { text: 'x', other: 1 },
    ['x'],
  ]) {
    await t.throwsAsync(pipe(bad as never), { instanceOf: InvalidInputError });
  }
  await t.throwsAsync(pipe({ text: 'x' }, { num_return_sequences: 2 } as never), {
    instanceOf: InvalidInputError,
  });
  const out = await pipe('Hello there', { max_new_tokens: 3 });
  t.is(typeof out.generated_text, 'string');
  t.deepEqual(out.conversation.past_user_inputs, ['Hello there']);
  await pipe.dispose();
});

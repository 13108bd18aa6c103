/**
 * The default text-generation model, HuggingFaceTB/SmolLM2-135M-Instruct (built by models:fetch
 * into the Hugging Face cache), through the pipeline: greedy continuations of prompts and chats
 * token-exact with transformers on the same weights (test/fixtures/goldens/smollm2.json), and
 * concurrent calls batched without changing them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { provisionModels } from '../../ts/hub/provision.js';
import { hubCacheDir } from '../../ts/hub/settings.js';
import { DEFAULT_MODELS, type Pipe, pipeline } from '../../ts/index.js';

const MODEL = 'HuggingFaceTB/SmolLM2-135M-Instruct';

interface Case {
  id: string;
  kind: 'prompt' | 'chat';
  prompt?: string;
  messages?: Array<{ role: string; content: string }>;
  greedy_ids: number[];
  greedy_text: string;
}
const golden = JSON.parse(
  readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'goldens', 'smollm2.json'), 'utf8'),
) as { max_new_tokens: number; cases: Case[] };

let pipe: Pipe<'text-generation'>;

test.before(async (t) => {
  // Builds the model once from its pinned source; a no-op when it is in the cache.
  t.timeout(15 * 60_000);
  await provisionModels({ models: [MODEL], cacheDir: hubCacheDir() });
  pipe = await pipeline('text-generation', undefined, { progress: false });
});
test.after.always(async () => {
  await pipe?.dispose();
});

function inputsOf(c: Case): string | Array<{ role: string; content: string }> {
  return c.kind === 'chat' ? (c.messages ?? []) : (c.prompt ?? '');
}

test('SmolLM2-135M-Instruct is the default model', (t) => {
  t.is(DEFAULT_MODELS['text-generation'], MODEL);
  t.is(pipe.model, MODEL);
});

test('greedy prompts and chats: token-exact with transformers, all calls at once', async (t) => {
  t.timeout(10 * 60_000);
  const params = { max_new_tokens: golden.max_new_tokens, do_sample: false, details: true };
  const outs = await Promise.all(golden.cases.map((c) => pipe(inputsOf(c), params)));
  golden.cases.forEach((c, i) => {
    const got = outs[i]?.[0]?.details?.tokens.map((tk) => tk.id);
    t.deepEqual(got, c.greedy_ids, c.id);
  });
  const paris = outs[golden.cases.findIndex((c) => c.id === 'chat/0')]?.[0];
  const messages = paris?.generated_text as Array<{ role: string; content: string }>;
  t.is(messages.at(-1)?.role, 'assistant');
  t.is(paris?.details?.finish_reason, 'eos_token');
});

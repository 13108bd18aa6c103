/**
 * Generation settings merged as transformers 4.57's pipelines merge them, and chat templates
 * rendered to the very prompt ids the reference tokenised (goldens' `prompt_ids`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { type ChatMessage, ChatTemplate, readChatTemplate } from '../../ts/generation/chat.js';
import {
  LIBRARY_DEFAULTS,
  modelGenerationConfig,
  pipelineSettings,
  TEXT_GENERATION_DEFAULTS,
} from '../../ts/generation/config.js';
import { decoderLayout } from '../../ts/generation/decoder.js';
import { loadModelConfig } from '../../ts/runtime/config.js';
import { Tokenizer } from '../../ts/tokenizer.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const modelDir = (name: string): string => path.join(fixtures, 'models', name);

interface Case {
  model: string;
  inputs: unknown;
  parameters: Record<string, unknown>;
  prompt_ids?: number[];
}

const goldens = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'text-generation.json'), 'utf8')) as {
  chats: Case[];
  models: Record<string, { generation_config: Record<string, unknown> }>;
};

function settingsOf(name: string) {
  const dir = modelDir(name);
  const config = loadModelConfig(dir);
  return pipelineSettings(
    modelGenerationConfig(dir, config),
    config,
    'text-generation',
    TEXT_GENERATION_DEFAULTS,
  );
}

test('gpt2: task_specific_params ask for sampling and max_length 50; the 256 new tokens default stays', (t) => {
  const s = settingsOf('gpt2-tiny');
  t.true(s.do_sample);
  t.is(s.max_length, 50);
  t.is(s.max_new_tokens, 256);
  t.is(s.eos_token_id, 0);
});

test("qwen2: the model file's repetition penalty and EOS list apply; greedy otherwise", (t) => {
  const s = settingsOf('qwen2-tiny');
  t.false(s.do_sample);
  t.is(s.repetition_penalty, 1.05);
  t.deepEqual(s.eos_token_id, [2, 0]);
  t.is(s.pad_token_id, 0);
  t.is(s.top_k, LIBRARY_DEFAULTS.top_k);
  t.is(s.max_new_tokens, 256);
});

test("a model file's non-default max_length drops the pipeline's max_new_tokens; pipeline values beat the file", (t) => {
  const config = loadModelConfig(modelDir('llama-tiny'));
  const s = pipelineSettings({ max_length: 142, num_beams: 4, temperature: 0.5 }, config, 'summarization', {
    max_new_tokens: 256,
    num_beams: 2,
  });
  t.is(s.max_new_tokens, null);
  t.is(s.max_length, 142);
  t.is(s.num_beams, 2);
  t.is(s.temperature, 0.5);
});

test('chat templates render to the reference prompt ids (tokenizer_config.json and chat_template.jinja)', (t) => {
  t.truthy(readChatTemplate(modelDir('llama-tiny')));
  t.truthy(readChatTemplate(modelDir('qwen2-tiny')));
  t.is(readChatTemplate(modelDir('gpt2-tiny')), null);
  let checked = 0;
  for (const c of goldens.chats) {
    const dir = modelDir(c.model);
    const tok = Tokenizer.fromFile(dir);
    const template = ChatTemplate.fromModelDir(dir, tok);
    if (template === null) throw new Error(`${c.model} has no template`);
    const messages = c.inputs as ChatMessage[];
    const cont = messages[messages.length - 1]?.role === 'assistant';
    const text = template.render(messages, { addGenerationPrompt: !cont, continueFinalMessage: cont });
    const ids = Array.from(tok.encode(text, { addSpecialTokens: false }).inputIds, Number);
    t.deepEqual(ids, c.prompt_ids, `${c.model} ${JSON.stringify(messages)}`);
    checked++;
  }
  t.true(checked >= 16);
});

test('an unknown role makes the Llama template raise: a 400 with the template message', (t) => {
  const dir = modelDir('llama-tiny');
  const template = ChatTemplate.fromModelDir(dir, Tokenizer.fromFile(dir));
  t.throws(
    () =>
      template?.render([{ role: 'tool', content: 'x' }], {
        addGenerationPrompt: true,
        continueFinalMessage: false,
      }),
    { message: /Unknown role: tool/ },
  );
});

test('decoder layouts from declarations: cache pairs, GQA heads from config, refusals', (t) => {
  const config = loadModelConfig(modelDir('llama-tiny'));
  const inputs = [
    { name: 'input_ids' },
    { name: 'attention_mask' },
    { name: 'position_ids' },
    { name: 'past_key_values.0.key' },
    { name: 'past_key_values.0.value' },
    { name: 'use_cache_branch' },
  ];
  const outputs = [{ name: 'logits' }, { name: 'present.0.key' }, { name: 'present.0.value' }];
  const layout = decoderLayout(inputs, outputs, config);
  t.deepEqual(
    layout.cache.map((c) => [c.past, c.present, c.heads, c.headDim]),
    [
      ['past_key_values.0.key', 'present.0.key', 2, 8],
      ['past_key_values.0.value', 'present.0.value', 2, 8],
    ],
  );
  t.is(layout.useCacheBranch, 'use_cache_branch');
  t.is(layout.contextLength, 128);
  t.throws(() => decoderLayout([{ name: 'input_ids' }], [{ name: 'logits' }], config), {
    message: /no past_key_values/,
  });
  t.throws(
    () =>
      decoderLayout(
        [{ name: 'input_ids' }, { name: 'past_key_values.0.key', type: 'float16', shape: ['b', 2, 'p', 8] }],
        [{ name: 'logits' }, { name: 'present.0.key' }],
        config,
      ),
    { message: /float32 KV caches/ },
  );
  t.throws(
    () =>
      decoderLayout([{ name: 'input_ids' }, { name: 'past_key_values.0.key' }], [{ name: 'logits' }], config),
    {
      message: /present\.0\.key/,
    },
  );
});

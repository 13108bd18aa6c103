import test from 'ava';
import {
  GGML_TYPES,
  GgufFile,
  LlamaGgufSource,
  llamaTensorName,
  unpermuteRows,
} from '../../ts/convert/gguf.js';
import { llamaConfigFiles, tokenizerFiles } from '../../ts/convert/gguf-model.js';
import { ModelError } from '../../ts/errors.js';
import { Tokenizer } from '../../ts/tokenizer.js';
import { gguf } from './builders.js';

const half = (h: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(h);
  return b;
};

test('dequantisation of Q8_0, Q4_0, Q4_1, F16 and F32 blocks', (t) => {
  const q8 = Buffer.concat([
    half(0x3800),
    Buffer.from(Int8Array.from({ length: 32 }, (_, i) => i - 16).buffer),
  ]); // d = 0.5
  const nibbles = Buffer.from(Array.from({ length: 16 }, (_, j) => (15 - j) * 16 + j));
  const q4_0 = Buffer.concat([half(0x4000), nibbles]); // d = 2
  const q4_1 = Buffer.concat([half(0x3c00), half(0xbc00), nibbles]); // d = 1, m = -1
  const f16 = Buffer.concat([half(0x3c00), half(0xc000)]);
  const f32 = Buffer.from(new Float32Array([1.5, -2.25]).buffer);
  const file = GgufFile.parse(
    gguf(
      [['general.architecture', 'str', 'llama']],
      [
        ['q8', [32], GGML_TYPES.Q8_0, q8],
        ['q4_0', [32], GGML_TYPES.Q4_0, q4_0],
        ['q4_1', [32], GGML_TYPES.Q4_1, q4_1],
        ['f16', [2], GGML_TYPES.F16, f16],
        ['f32', [2], GGML_TYPES.F32, f32],
      ],
    ),
  );
  t.is(file.version, 3);
  t.is(file.get('general.architecture', 'string'), 'llama');
  t.deepEqual(
    [...file.dequantize('q8')],
    Array.from({ length: 32 }, (_, i) => (i - 16) * 0.5),
  );
  const low = Array.from({ length: 16 }, (_, j) => j);
  const high = Array.from({ length: 16 }, (_, j) => 15 - j);
  t.deepEqual(
    [...file.dequantize('q4_0')],
    [...low, ...high].map((q) => (q - 8) * 2),
  );
  t.deepEqual(
    [...file.dequantize('q4_1')],
    [...low, ...high].map((q) => q - 1),
  );
  t.deepEqual([...file.dequantize('f16')], [1, -2]);
  t.deepEqual([...file.dequantize('f32')], [1.5, -2.25]);
  t.throws(() => file.dequantize('absent'), { instanceOf: ModelError, message: /lacks tensor absent/ });
});

test('malformed GGUF files are typed errors', (t) => {
  const good = gguf(
    [['general.architecture', 'str', 'llama']],
    [['x', [2], GGML_TYPES.F32, Buffer.alloc(8)]],
  );
  const err = (b: Buffer, message: RegExp) =>
    t.throws(() => GgufFile.parse(b), { instanceOf: ModelError, message });
  err(Buffer.from('GGML'), /not a GGUF file/);
  const v9 = Buffer.from(good);
  v9.writeUInt32LE(9, 4);
  err(v9, /version 9/);
  err(good.subarray(0, 40), /truncated/);
  err(good.subarray(0, good.length - 28), /outside the file/);
  const huge = Buffer.from(good);
  huge.writeBigUInt64LE(1n << 40n, 16); // metadata count
  err(huge, /exceeds the limit/);
  const quantised = GgufFile.parse(gguf([], [['k', [32], 12, Buffer.alloc(144)]]));
  t.throws(() => quantised.dequantize('k'), { instanceOf: ModelError, message: /type 12; supported/ });
});

test('Q/K rows go back from llama.cpp order to transformers order', (t) => {
  // 2 heads of 4 rows, 1 column: llama.cpp stores rows of each head as (pair, half) where
  // transformers has (half, pair).
  const hf = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
  const llamaCpp = Float32Array.from([0, 2, 1, 3, 10, 12, 11, 13]);
  t.deepEqual(unpermuteRows(llamaCpp, 8, 1, 2), hf);
  const wide = Float32Array.from([0, 0.5, 2, 2.5, 1, 1.5, 3, 3.5]);
  t.deepEqual([...unpermuteRows(wide, 4, 2, 1)], [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]);
  t.throws(() => unpermuteRows(new Float32Array(6), 6, 1, 2), { message: /do not split/ });
  t.is(llamaTensorName('blk.12.attn_q.weight'), 'model.layers.12.self_attn.q_proj.weight');
  t.is(llamaTensorName('blk.0.ffn_norm.weight'), 'model.layers.0.post_attention_layernorm.weight');
  t.is(llamaTensorName('token_embd.weight'), 'model.embed_tokens.weight');
  t.is(llamaTensorName('rope_freqs.weight'), undefined);
});

test('a llama GGUF file: tensors under transformers names, tokenizer and configuration from metadata', (t) => {
  const tokens = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', 'a', 'b', 'ab', 'Ġ', 'Ġab', '1', '2', 'Ġ1'];
  const types = [3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1];
  const q = Float32Array.from({ length: 8 }, (_, i) => i);
  const file = GgufFile.parse(
    gguf(
      [
        ['general.architecture', 'str', 'llama'],
        ['llama.block_count', 'u32', 1],
        ['llama.context_length', 'u32', 128],
        ['llama.embedding_length', 'u32', 4],
        ['llama.feed_forward_length', 'u32', 8],
        ['llama.attention.head_count', 'u32', 2],
        ['llama.attention.head_count_kv', 'u32', 1],
        ['llama.rope.freq_base', 'f32', 100000],
        ['llama.attention.layer_norm_rms_epsilon', 'f32', 1e-5],
        ['tokenizer.ggml.model', 'str', 'gpt2'],
        ['tokenizer.ggml.pre', 'str', 'smollm'],
        ['tokenizer.ggml.tokens', 'strs', tokens],
        ['tokenizer.ggml.token_type', 'i32s', types],
        ['tokenizer.ggml.merges', 'strs', ['a b', 'Ġ ab', 'Ġ 1']],
        ['tokenizer.ggml.bos_token_id', 'u32', 1],
        ['tokenizer.ggml.eos_token_id', 'u32', 2],
        ['tokenizer.ggml.padding_token_id', 'u32', 2],
        ['tokenizer.ggml.add_bos_token', 'bool', false],
        ['tokenizer.chat_template', 'str', '{{ messages[0].content }}'],
      ],
      [
        ['blk.0.attn_q.weight', [1, 8], GGML_TYPES.F32, Buffer.from(q.buffer)],
        ['output_norm.weight', [4], GGML_TYPES.F32, Buffer.alloc(16)],
      ],
    ),
  );
  const source = new LlamaGgufSource(file);
  t.deepEqual(source.names().sort(), ['model.layers.0.self_attn.q_proj.weight', 'model.norm.weight']);
  const qProj = source.get('model.layers.0.self_attn.q_proj.weight');
  // 8 rows in 2 heads: each head's rows (pair, half) -> (half, pair).
  t.deepEqual(qProj.shape, [8, 1]);
  t.deepEqual([...qProj.data], [0, 2, 1, 3, 4, 6, 5, 7]);

  const files = tokenizerFiles(file);
  const config = files['tokenizer_config.json'] as Record<string, unknown>;
  t.like(config, {
    add_bos_token: false,
    bos_token: '<|im_start|>',
    eos_token: '<|im_end|>',
    pad_token: '<|im_end|>',
    unk_token: undefined,
    chat_template: '{{ messages[0].content }}',
    model_max_length: 128,
  });
  const tokenizer = Tokenizer.fromJSON(files['tokenizer.json'] as object, config);
  // Digits are split one by one before the byte-level pattern (llama.cpp's `smollm`).
  t.deepEqual([...tokenizer.encode('<|im_start|>ab ab 12').inputIds].map(Number), [1, 5, 7, 6, 8, 9]);

  const { 'config.json': cfg, 'generation_config.json': gen } = llamaConfigFiles(file);
  t.like(cfg as object, {
    architectures: ['LlamaForCausalLM'],
    hidden_size: 4,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 2,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
    vocab_size: 11,
  });
  t.deepEqual(gen, { bos_token_id: 1, eos_token_id: 2, pad_token_id: 2 });

  const bert = GgufFile.parse(gguf([['general.architecture', 'str', 'bert']], []));
  t.throws(() => new LlamaGgufSource(bert), { instanceOf: ModelError, message: /expected llama/ });
});

/**
 * The repository files of a llama GGUF model, rebuilt from its metadata: `tokenizer.json` (a
 * byte-level BPE from `tokenizer.ggml.tokens` / `merges` / `token_type`, pre-tokenized as the
 * model's `tokenizer.ggml.pre` names), `tokenizer_config.json` (special tokens, chat template),
 * `special_tokens_map.json`, `config.json` (LlamaForCausalLM) and `generation_config.json`.
 */
import type { GgufFile } from './gguf.js';
import { conversionError } from './tensor.js';

/** GGUF token types (llama.cpp): 3 = control (special), 4 = user-defined (added, not special). */
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

/**
 * Pre-tokenizers by `tokenizer.ggml.pre`: llama.cpp's `smollm` (like `starcoder` and `refact`)
 * splits every digit off before the GPT-2 pattern, which is the hub tokenizer's Digits
 * (individual) + ByteLevel; `gpt2` is ByteLevel alone.
 */
const PRE_TOKENIZERS: Record<string, unknown> = {
  gpt2: BYTE_LEVEL,
  default: BYTE_LEVEL,
  smollm: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, BYTE_LEVEL] },
  starcoder: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, BYTE_LEVEL] },
  refact: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, BYTE_LEVEL] },
};

interface Vocabulary {
  tokens: string[];
  types: number[];
  merges: string[];
}

function vocabulary(gguf: GgufFile): Vocabulary {
  const model = gguf.require('tokenizer.ggml.model', 'string');
  if (model !== 'gpt2')
    throw conversionError(`GGUF tokenizer model ${model}; supported: gpt2 (byte-level BPE)`);
  const tokens = gguf.array<string>('tokenizer.ggml.tokens', 'string');
  const merges = gguf.array<string>('tokenizer.ggml.merges', 'string');
  if (!tokens || !merges) throw conversionError('GGUF metadata lacks tokenizer.ggml.tokens or merges');
  const types = gguf.array<number>('tokenizer.ggml.token_type', 'number') ?? tokens.map(() => 1);
  if (types.length !== tokens.length) throw conversionError('GGUF token_type and tokens differ in length');
  return { tokens, types, merges };
}

function tokenAt(v: Vocabulary, gguf: GgufFile, key: string): string | null {
  const id = gguf.get(key, 'number');
  if (id === undefined) return null;
  const token = v.tokens[id];
  if (token === undefined) throw conversionError(`GGUF ${key} ${id} is outside the vocabulary`);
  return token;
}

export interface GgufTokenizerFiles {
  'tokenizer.json': unknown;
  'tokenizer_config.json': unknown;
  'special_tokens_map.json': unknown;
}

export function tokenizerFiles(gguf: GgufFile): GgufTokenizerFiles {
  const v = vocabulary(gguf);
  const pre = gguf.get('tokenizer.ggml.pre', 'string') ?? 'default';
  const preTokenizer = PRE_TOKENIZERS[pre];
  if (!preTokenizer) {
    throw conversionError(
      `GGUF pre-tokenizer ${pre} is not supported (${Object.keys(PRE_TOKENIZERS).join(', ')})`,
    );
  }
  const vocab: Record<string, number> = {};
  v.tokens.forEach((t, i) => {
    vocab[t] = i;
  });
  const added = v.tokens.flatMap((content, id) => {
    const type = v.types[id];
    if (type !== TOKEN_CONTROL && type !== TOKEN_USER_DEFINED) return [];
    const special = type === TOKEN_CONTROL;
    return [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special }];
  });
  const merges = v.merges.map((m) => {
    const parts = m.split(' ');
    if (parts.length !== 2) throw conversionError(`GGUF merge ${JSON.stringify(m)} is not two tokens`);
    return parts;
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const special = {
    bos_token: tokenAt(v, gguf, 'tokenizer.ggml.bos_token_id'),
    eos_token: tokenAt(v, gguf, 'tokenizer.ggml.eos_token_id'),
    pad_token: tokenAt(v, gguf, 'tokenizer.ggml.padding_token_id'),
    unk_token: tokenAt(v, gguf, 'tokenizer.ggml.unknown_token_id'),
  };
  const present = Object.fromEntries(Object.entries(special).filter(([, t]) => t !== null));
  const chatTemplate = gguf.get('tokenizer.chat_template', 'string');
  const arch = gguf.require('general.architecture', 'string');
  const config = {
    add_bos_token: gguf.get('tokenizer.ggml.add_bos_token', 'boolean') ?? false,
    add_eos_token: gguf.get('tokenizer.ggml.add_eos_token', 'boolean') ?? false,
    add_prefix_space: gguf.get('tokenizer.ggml.add_space_prefix', 'boolean') ?? false,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...rest }) => [String(id), { ...rest }])),
    ...present,
    ...(chatTemplate !== undefined ? { chat_template: chatTemplate } : {}),
    clean_up_tokenization_spaces: false,
    model_max_length: gguf.get(`${arch}.context_length`, 'number') ?? 2048,
    tokenizer_class: 'GPT2Tokenizer',
    vocab_size: v.tokens.length,
  };
  return {
    'tokenizer.json': tokenizer,
    'tokenizer_config.json': config,
    'special_tokens_map.json': present,
  };
}

/** The shortest decimal that reads back as the same float32 (GGUF stores float32 metadata). */
function float32Decimal(x: number): number {
  const f = Math.fround(x);
  for (let digits = 1; digits <= 17; digits++) {
    const v = Number(f.toPrecision(digits));
    if (Math.fround(v) === f) return v;
  }
  return f;
}

/** `config.json` and `generation_config.json` of a llama GGUF model. */
export function llamaConfigFiles(gguf: GgufFile): {
  'config.json': unknown;
  'generation_config.json': unknown;
} {
  const n = (key: string) => gguf.require(`llama.${key}`, 'number');
  const heads = n('attention.head_count');
  const hidden = n('embedding_length');
  const vocabSize =
    gguf.get('llama.vocab_size', 'number') ?? gguf.array('tokenizer.ggml.tokens', 'string')?.length;
  const ids = {
    bos_token_id: gguf.get('tokenizer.ggml.bos_token_id', 'number'),
    eos_token_id: gguf.get('tokenizer.ggml.eos_token_id', 'number'),
    pad_token_id: gguf.get('tokenizer.ggml.padding_token_id', 'number'),
  };
  const present = Object.fromEntries(Object.entries(ids).filter(([, v]) => v !== undefined));
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    attention_bias: false,
    attention_dropout: 0.0,
    ...present,
    head_dim: gguf.get('llama.rope.dimension_count', 'number') ?? hidden / heads,
    hidden_act: 'silu',
    hidden_size: hidden,
    intermediate_size: n('feed_forward_length'),
    max_position_embeddings: n('context_length'),
    mlp_bias: false,
    num_attention_heads: heads,
    num_hidden_layers: n('block_count'),
    num_key_value_heads: gguf.get('llama.attention.head_count_kv', 'number') ?? heads,
    rms_norm_eps: float32Decimal(n('attention.layer_norm_rms_epsilon')),
    rope_scaling: null,
    rope_theta: float32Decimal(gguf.get('llama.rope.freq_base', 'number') ?? 10000),
    tie_word_embeddings: !gguf.tensors.has('output.weight'),
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: vocabSize,
  };
  return { 'config.json': config, 'generation_config.json': present };
}

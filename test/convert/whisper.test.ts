import test from 'ava';
import { CTranslate2File } from '../../ts/convert/ctranslate2.js';
import { WhisperCt2Source, whisperEnglishConfigFiles, whisperNameMap } from '../../ts/convert/whisper.js';
import { ModelError } from '../../ts/errors.js';
import { ct2 } from './builders.js';

const D = 64;
const FFN = 128;
const MEL = 4;
const VOCAB = 1512; // <|notimestamps|> = 10, then 1501 timestamp tokens

/** Variable values: the variable's index * 1000 + the element's index, so every part is recognisable. */
function whisperFile(): Buffer {
  const vars: Array<[string, number[]]> = [
    ['encoder/conv1/weight', [D, MEL, 3]],
    ['encoder/conv1/bias', [D]],
    ['encoder/conv2/weight', [D, D, 3]],
    ['encoder/conv2/bias', [D]],
    ['encoder/position_encodings/encodings', [6, D]],
    ['encoder/layer_norm/gamma', [D]],
    ['encoder/layer_norm/beta', [D]],
    ['decoder/embeddings/weight', [VOCAB, D]],
    ['decoder/position_encodings/encodings', [5, D]],
    ['decoder/layer_norm/gamma', [D]],
    ['decoder/layer_norm/beta', [D]],
  ];
  for (const side of ['encoder', 'decoder']) {
    const l = `${side}/layer_0`;
    vars.push(
      [`${l}/self_attention/linear_0/weight`, [3 * D, D]],
      [`${l}/self_attention/linear_0/bias`, [3 * D]],
      [`${l}/self_attention/linear_1/weight`, [D, D]],
      [`${l}/self_attention/linear_1/bias`, [D]],
      [`${l}/self_attention/layer_norm/gamma`, [D]],
      [`${l}/self_attention/layer_norm/beta`, [D]],
      [`${l}/ffn/linear_0/weight`, [FFN, D]],
      [`${l}/ffn/linear_0/bias`, [FFN]],
      [`${l}/ffn/linear_1/weight`, [D, FFN]],
      [`${l}/ffn/linear_1/bias`, [D]],
      [`${l}/ffn/layer_norm/gamma`, [D]],
      [`${l}/ffn/layer_norm/beta`, [D]],
    );
  }
  const a = 'decoder/layer_0/attention';
  vars.push(
    [`${a}/linear_0/weight`, [D, D]],
    [`${a}/linear_0/bias`, [D]],
    [`${a}/linear_1/weight`, [2 * D, D]],
    [`${a}/linear_1/bias`, [2 * D]],
    [`${a}/linear_2/weight`, [D, D]],
    [`${a}/linear_2/bias`, [D]],
    [`${a}/layer_norm/gamma`, [D]],
    [`${a}/layer_norm/beta`, [D]],
  );
  return ct2(
    vars.map(([name, shape], v) => {
      const n = shape.reduce((x, y) => x * y, 1);
      const data = Float32Array.from({ length: n }, (_, i) => v * 1000 + (i % 1000));
      return [name, shape, 0, Buffer.from(data.buffer)];
    }),
    [['decoder/projection/weight', 'decoder/embeddings/weight']],
  );
}

const tokenizer = {
  added_tokens: [
    '<|endoftext|>',
    '<|startoftranscript|>',
    '<|en|>',
    '<|translate|>',
    '<|transcribe|>',
    '<|startoflm|>',
    '<|startofprev|>',
    '<|nocaptions|>',
    '<|notimestamps|>',
  ].map((content, i) => ({ id: i === 0 ? 1 : i + 2, content, special: true })),
};
const ct2Config = { suppress_ids: [1, 3], suppress_ids_begin: [220, 1], alignment_heads: [[0, 0]] };

test('CTranslate2 Whisper variables under transformers names: fused Q/K/V and cross K/V split, ties', (t) => {
  const file = CTranslate2File.parse(whisperFile());
  const source = new WhisperCt2Source(file);
  t.deepEqual(source.dims, {
    vocabSize: VOCAB,
    dModel: D,
    numMelBins: MEL,
    encoderLayers: 1,
    decoderLayers: 1,
    encoderFfnDim: FFN,
    decoderFfnDim: FFN,
    maxSourcePositions: 6,
    maxTargetPositions: 5,
  });
  const names = source.names();
  t.is(names.length, whisperNameMap(1, 1).size);
  // K projections have no bias in transformers.
  t.false(names.includes('model.encoder.layers.0.self_attn.k_proj.bias'));
  t.true(names.includes('model.decoder.layers.0.encoder_attn.v_proj.bias'));
  const fused = file.get('encoder/layer_0/self_attention/linear_0/weight').data;
  for (const [i, p] of ['q', 'k', 'v'].entries()) {
    const part = source.get(`model.encoder.layers.0.self_attn.${p}_proj.weight`);
    t.deepEqual(part.shape, [D, D]);
    t.deepEqual(part.data, fused.subarray(i * D * D, (i + 1) * D * D), p);
  }
  const vBias = source.get('model.decoder.layers.0.self_attn.v_proj.bias');
  t.deepEqual(vBias.data, file.get('decoder/layer_0/self_attention/linear_0/bias').data.subarray(2 * D));
  const kv = file.get('decoder/layer_0/attention/linear_1/weight').data;
  t.deepEqual(source.get('model.decoder.layers.0.encoder_attn.k_proj.weight').data, kv.subarray(0, D * D));
  t.deepEqual(source.get('model.decoder.layers.0.encoder_attn.v_proj.weight').data, kv.subarray(D * D));
  t.deepEqual(
    source.get('model.decoder.layers.0.encoder_attn.q_proj.weight').data,
    file.get('decoder/layer_0/attention/linear_0/weight').data,
  );
  t.deepEqual(
    source.get('model.encoder.layers.0.self_attn_layer_norm.bias').data,
    file.get('encoder/layer_0/self_attention/layer_norm/beta').data,
  );
  t.deepEqual(source.get('proj_out.weight'), source.get('model.decoder.embed_tokens.weight'));
  t.deepEqual(
    source.get('model.encoder.embed_positions.weight'),
    file.get('encoder/position_encodings/encodings'),
  );
  t.throws(() => source.get('lm_head.weight'), { instanceOf: ModelError, message: /no tensor lm_head/ });
});

test('configuration files of an English-only Whisper from the dimensions, CTranslate2 config and tokenizer', (t) => {
  const source = new WhisperCt2Source(CTranslate2File.parse(whisperFile()));
  const files = whisperEnglishConfigFiles(source.dims, ct2Config, tokenizer);
  const config = files['config.json'] as Record<string, unknown>;
  t.is(config.d_model, D);
  t.is(config.encoder_attention_heads, 1);
  t.is(config.decoder_ffn_dim, FFN);
  t.is(config.num_mel_bins, MEL);
  t.is(config.max_target_positions, 5);
  t.is(config.decoder_start_token_id, 3);
  t.is(config.eos_token_id, 1);
  const generation = files['generation_config.json'] as Record<string, unknown>;
  t.deepEqual(generation.forced_decoder_ids, [[1, 10]]);
  t.is(generation.no_timestamps_token_id, 10);
  t.is(generation.prev_sot_token_id, 8);
  t.deepEqual(generation.suppress_tokens, [1, 3]);
  t.deepEqual(generation.begin_suppress_tokens, [220, 1]);
  t.deepEqual(generation.alignment_heads, [[0, 0]]);
  t.is(generation.is_multilingual, false);
  const special = files['special_tokens_map.json'] as { additional_special_tokens: string[] };
  t.is(special.additional_special_tokens[0], '<|startoftranscript|>');
  t.is(special.additional_special_tokens.length, 8);
});

test('inputs that do not fit are typed errors', (t) => {
  const source = new WhisperCt2Source(CTranslate2File.parse(whisperFile()));
  const err = (f: () => unknown, message: RegExp) => t.throws(f, { instanceOf: ModelError, message });
  err(
    () =>
      whisperEnglishConfigFiles(source.dims, ct2Config, { added_tokens: tokenizer.added_tokens.slice(0, 8) }),
    /lacks the added token <\|notimestamps\|>/,
  );
  err(
    () => whisperEnglishConfigFiles({ ...source.dims, vocabSize: VOCAB + 1 }, ct2Config, tokenizer),
    /not an English-only Whisper/,
  );
  err(
    () => whisperEnglishConfigFiles(source.dims, { ...ct2Config, alignment_heads: [[0]] }, tokenizer),
    /lacks suppress_ids/,
  );
  const noLayers = ct2([['decoder/embeddings/weight', [2, 2], 0, Buffer.alloc(16)]]);
  err(() => new WhisperCt2Source(CTranslate2File.parse(noLayers)), /lacks encoder\/conv1\/weight|no layers/);
});

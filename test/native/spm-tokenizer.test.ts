/**
 * Slow SentencePiece tokenizers (Marian: source.spm + vocab.json; M2M100: a BPE
 * sentencepiece.bpe.model + vocab.json; no tokenizer.json) against transformers 4.57.3's
 * `MarianTokenizer` and `M2M100Tokenizer` on test/fixtures/goldens/spm-tokenizer.json (made by
 * scripts/fixtures/make_spm_tokenizer_goldens.py): ids of single texts (spaces, control and
 * full-width characters, characters the model does not cover, special tokens inside the text,
 * language codes), padded and truncated batches, and decoding of random id sequences; plus the
 * loader's refusals of malformed files.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { HfTasksError, Tokenizer } from '../../ts/index.js';
import { folderTokenizer } from '../../ts/runtime/vocab-tokenizer.js';

const root = path.resolve(import.meta.dirname, '..', '..');

interface Golden {
  name: string;
  dir: string;
  class: string;
  encode: { text: string; input_ids: number[]; tokens: string[] }[];
  batch: {
    texts: (string | [string, string])[];
    kwargs: Record<string, unknown>;
    input_ids: number[][];
    attention_mask: number[][];
  }[];
  decode: { ids: number[]; skip_special_tokens: boolean; text: string }[];
}

const goldens = JSON.parse(
  readFileSync(path.join(root, 'test', 'fixtures', 'goldens', 'spm-tokenizer.json'), 'utf8'),
) as { tokenizers: Golden[] };

function load(g: Golden): Tokenizer {
  const tok = folderTokenizer(path.join(root, g.dir));
  if (tok === null) throw new Error(`no tokenizer in ${g.dir}`);
  return tok;
}

test('the goldens cover the fixtures', (t) => {
  t.true(goldens.tokenizers.length >= 2);
  for (const g of goldens.tokenizers) {
    t.true(['MarianTokenizer', 'M2M100Tokenizer'].includes(g.class), g.class);
    t.true(g.encode.length >= 30, g.name);
    t.true(g.decode.length >= 30, g.name);
  }
});

for (const g of goldens.tokenizers) {
  test(`${g.name}: encodes every text as ${g.class}`, (t) => {
    const tok = load(g);
    let checked = 0;
    for (const c of g.encode) {
      const enc = tok.encode(c.text);
      t.deepEqual(
        Array.from(enc.inputIds, Number),
        c.input_ids,
        `${JSON.stringify(c.text)}: ${c.tokens.join('|')}`,
      );
      checked++;
    }
    t.is(checked, g.encode.length);
  });

  test(`${g.name}: batches pad and truncate as ${g.class}`, (t) => {
    const tok = load(g);
    for (const c of g.batch) {
      const kw = c.kwargs;
      const options: Record<string, unknown> = {};
      for (const [py, js] of [
        ['padding', 'padding'],
        ['truncation', 'truncation'],
        ['max_length', 'maxLength'],
        ['padding_side', 'paddingSide'],
      ] as const) {
        if (kw[py] !== undefined) options[js] = kw[py];
      }
      const pairs = kw.text_pair as string[] | undefined;
      const inputs = pairs === undefined ? c.texts : c.texts.map((x, i) => [x, pairs[i]] as [string, string]);
      const enc = tok.encodeBatchSync(inputs as string[], options);
      const [rows, cols] = enc.dims;
      t.is(rows, c.input_ids.length);
      for (let r = 0; r < rows; r++) {
        const ids = Array.from(enc.inputIds.subarray(r * cols, (r + 1) * cols), Number);
        const mask = Array.from(enc.attentionMask.subarray(r * cols, (r + 1) * cols), Number);
        // `padding: 'max_length'` without truncation leaves longer rows as they are (ragged
        // lists in Python); the tensor pads them all to the longest.
        const want = c.input_ids[r] ?? [];
        t.deepEqual(ids.slice(0, want.length), want, `${JSON.stringify(kw)} row ${r}`);
        t.deepEqual(mask.slice(0, want.length), c.attention_mask[r], `${JSON.stringify(kw)} row ${r}`);
        t.true(mask.slice(want.length).every((m) => m === 0));
      }
    }
  });

  test(`${g.name}: decodes as ${g.class}`, (t) => {
    const tok = load(g);
    let compared = 0;
    for (const c of g.decode) {
      // Ids past the vocabulary decode as the unknown token, as the reference's lookup does.
      const text = tok.decode(c.ids, { skip_special_tokens: c.skip_special_tokens });
      t.is(text, c.text, `${JSON.stringify(c.ids)} skip_special_tokens: ${c.skip_special_tokens}`);
      compared++;
    }
    t.true(compared >= g.decode.length - 4, `${compared} compared`);
  });
}

test('a malformed source.spm or vocab.json, or a missing target_vocab.json, fail the load with the reason', (t) => {
  const src = path.join(root, goldens.tokenizers[0]?.dir ?? '');
  const dir = mkdtempSync(path.join(tmpdir(), 'marian-'));
  try {
    for (const f of ['source.spm', 'vocab.json', 'tokenizer_config.json', 'special_tokens_map.json'])
      cpSync(path.join(src, f), path.join(dir, f));
    const spm = readFileSync(path.join(src, 'source.spm'));
    const cases: [string, Buffer | string, RegExp][] = [
      ['source.spm', Buffer.from('not a model'), /source\.spm: not a SentencePiece model/],
      ['source.spm', spm.subarray(0, spm.length >> 1), /source\.spm/],
      ['vocab.json', '{"a": 1', /vocab\.json/],
      ['vocab.json', '{"</s>": 0}', /unknown token "<unk>" is not in the vocabulary/],
    ];
    for (const [file, bytes, message] of cases) {
      writeFileSync(path.join(dir, file), bytes);
      const err = t.throws(() => folderTokenizer(dir), { instanceOf: HfTasksError });
      t.is(err?.code, 'ERR_MODEL_LOAD');
      t.regex(err?.message ?? '', message);
      cpSync(path.join(src, file), path.join(dir, file));
    }
    writeFileSync(path.join(dir, 'tokenizer_config.json'), '{"separate_vocabs": true}');
    t.throws(() => folderTokenizer(dir), { message: /target_vocab\.json is missing/ });
    t.throws(() => Tokenizer.fromMarian('x' as unknown as Uint8Array, '{}'), { instanceOf: HfTasksError });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

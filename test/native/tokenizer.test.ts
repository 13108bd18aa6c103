import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import {
  type BatchEncoding,
  type EncodeOptions,
  HfTasksError,
  SYNC_ENCODE_MAX_CHARS,
  Tokenizer,
  type TokenizerInput,
} from '../../ts/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures', 'tokenizers');

interface Expected {
  error?: string;
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][];
  special_tokens_mask: number[][];
  offsets: Array<Array<[number, number]>>;
  offsets_utf16: Array<Array<[number, number]>>;
  word_ids: number[][];
  sequence_ids: number[][];
  overflow_to_sample_mapping: number[];
}

interface GoldenCase {
  name: string;
  inputs: Array<string | [string, string]>;
  options: EncodeOptions;
  expected: Expected;
}

interface DecodeGolden {
  text: string;
  ids: number[];
  decode: Record<string, string>;
  tokens: string[];
  tokens_skip_special: string[];
  content_tokens: string[];
  tokens_to_string: string;
}

interface TokenizerGolden {
  model_max_length: number | null;
  padding_side: string;
  vocab_size: number;
  clean_up_tokenization_spaces: boolean;
  special_tokens: Record<string, string | null>;
  special_token_ids: Record<string, number | null>;
  cases: GoldenCase[];
  decode: DecodeGolden[];
}

const goldens = JSON.parse(readFileSync(path.join(fixtures, 'goldens.json'), 'utf8')) as {
  tokenizers_under_test: Record<string, TokenizerGolden>;
};

const cache = new Map<string, Tokenizer>();
function load(name: string): Tokenizer {
  let tok = cache.get(name);
  if (!tok) {
    tok = Tokenizer.fromFile(path.join(fixtures, name));
    cache.set(name, tok);
  }
  return tok;
}

function codeOf(err: unknown): string | undefined {
  return err instanceof HfTasksError ? err.code : undefined;
}

/** Row `r` of a flat `[rows, len]` array, first `n` values, as numbers. */
function row(a: ArrayLike<number | bigint>, r: number, len: number, n: number): number[] {
  return Array.from({ length: n }, (_, j) => Number(a[r * len + j]));
}

function pairsOf(a: Uint32Array, r: number, len: number, n: number): Array<[number, number]> {
  return Array.from({ length: n }, (_, j) => [a[2 * (r * len + j)] ?? -1, a[2 * (r * len + j) + 1] ?? -1]);
}

function compare(
  t: import('ava').ExecutionContext,
  enc: BatchEncoding,
  exp: Expected,
  unit: 'code_points' | 'utf16',
  label: string,
): void {
  const rows = exp.input_ids.length;
  const [n, len] = enc.dims;
  t.is(n, rows, `${label}: rows`);
  t.deepEqual(Array.from(enc.overflowToSampleMapping), exp.overflow_to_sample_mapping, `${label}: mapping`);
  for (let r = 0; r < rows; r++) {
    const ids = exp.input_ids[r] ?? [];
    const k = ids.length;
    t.is(enc.lengths[r], k, `${label}: row ${r} length`);
    t.deepEqual(row(enc.inputIds, r, len, k), ids, `${label}: row ${r} input_ids`);
    t.deepEqual(
      row(enc.attentionMask, r, len, k),
      exp.attention_mask[r],
      `${label}: row ${r} attention_mask`,
    );
    t.deepEqual(row(enc.tokenTypeIds, r, len, k), exp.token_type_ids[r], `${label}: row ${r} token_type_ids`);
    t.deepEqual(
      row(enc.specialTokensMask, r, len, k),
      exp.special_tokens_mask[r],
      `${label}: row ${r} special_tokens_mask`,
    );
    t.deepEqual(row(enc.wordIds, r, len, k), exp.word_ids[r], `${label}: row ${r} word_ids`);
    t.deepEqual(row(enc.sequenceIds, r, len, k), exp.sequence_ids[r], `${label}: row ${r} sequence_ids`);
    const offsets = unit === 'utf16' ? exp.offsets_utf16 : exp.offsets;
    t.deepEqual(pairsOf(enc.offsets, r, len, k), offsets[r], `${label}: row ${r} offsets (${unit})`);
    // Unpadded rows are filled past their length with attention 0.
    for (let j = k; j < len; j++) t.is(enc.attentionMask[r * len + j], 0n, `${label}: row ${r} fill at ${j}`);
  }
}

for (const [name, golden] of Object.entries(goldens.tokenizers_under_test)) {
  test(`${name}: configuration matches transformers`, (t) => {
    const tok = load(name);
    t.is(tok.modelMaxLength, golden.model_max_length);
    t.is(tok.paddingSide as string, golden.padding_side);
    t.is(tok.vocabSize, golden.vocab_size);
    t.is(tok.cleanUpTokenizationSpaces, golden.clean_up_tokenization_spaces);
    const st = tok.specialTokens as unknown as Record<string, string | number | null>;
    for (const [k, v] of Object.entries(golden.special_tokens)) t.is(st[k], v, k);
    for (const [k, v] of Object.entries(golden.special_token_ids)) t.is(st[k], v, k);
  });

  for (const c of golden.cases) {
    const inputs = c.inputs as TokenizerInput[];
    if (c.expected.error !== undefined) {
      test(`${name}: ${c.name} -> ERR_TOKENIZE like the reference's ${c.expected.error}`, async (t) => {
        const tok = load(name);
        const err = t.throws(() => tok.encodeBatchSync(inputs, c.options));
        t.is(codeOf(err), 'ERR_TOKENIZE', String(err));
        const aerr = await t.throwsAsync(tok.encodeBatch(inputs, c.options));
        t.is(codeOf(aerr), 'ERR_TOKENIZE', String(aerr));
        // Past SYNC_ENCODE_MAX_CHARS the batch goes to the thread pool: the same error.
        const chars = inputs.flat().reduce((n, x) => n + x.length, 0);
        const many = Array.from(
          { length: Math.ceil(SYNC_ENCODE_MAX_CHARS / chars) + 1 },
          () => inputs,
        ).flat();
        const perr = await t.throwsAsync(tok.encodeBatch(many, c.options));
        t.is(codeOf(perr), 'ERR_TOKENIZE', String(perr));
      });
      continue;
    }
    test(`${name}: ${c.name}`, async (t) => {
      const tok = load(name);
      const cp = tok.encodeBatchSync(inputs, c.options);
      compare(t, cp, c.expected, 'code_points', 'sync');
      const u16 = await tok.encodeBatch(inputs, { ...c.options, offsets: 'utf16' });
      compare(t, u16, c.expected, 'utf16', 'async');
      // Single-input entry points agree with the batch for the first input.
      const first = inputs[0];
      if (first !== undefined && c.expected.overflow_to_sample_mapping.every((s) => s === 0)) {
        const one = Array.isArray(first)
          ? tok.encodePair(first[0], first[1], c.options)
          : tok.encode(first, c.options);
        compare(t, one, c.expected, 'code_points', 'single');
      }
    });
  }

  test(`${name}: decode, tokens and tokens-to-string match transformers`, (t) => {
    const tok = load(name);
    for (const d of golden.decode) {
      for (const [key, want] of Object.entries(d.decode)) {
        const m = /^skip=(true|false),clean=(default|true|false)$/.exec(key);
        t.truthy(m, key);
        const opts: { skip_special_tokens: boolean; clean_up_tokenization_spaces?: boolean } = {
          skip_special_tokens: m?.[1] === 'true',
        };
        if (m?.[2] !== 'default') opts.clean_up_tokenization_spaces = m?.[2] === 'true';
        t.is(tok.decode(d.ids, opts), want, `${JSON.stringify(d.text)} ${key}`);
      }
      t.deepEqual(tok.convertIdsToTokens(d.ids), d.tokens);
      t.deepEqual(tok.convertIdsToTokens(d.ids, { skip_special_tokens: true }), d.tokens_skip_special);
      t.is(tok.convertTokensToString(d.content_tokens), d.tokens_to_string);
      t.is(tok.decode(BigInt64Array.from(d.ids, BigInt)), d.decode['skip=false,clean=default'] ?? '');
    }
    const all = golden.decode.map((d) => d.ids);
    t.deepEqual(
      tok.decodeBatch(all, { skip_special_tokens: true }),
      golden.decode.map((d) => d.decode['skip=true,clean=default']),
    );
  });
}

test('tokenToId and the native handle', (t) => {
  const tok = load('bert-uncased');
  t.is(tok.tokenToId('[CLS]'), tok.specialTokens.cls_token_id);
  t.is(tok.tokenToId('definitely-not-a-token'), null);
  t.is(tok.continuingSubwordPrefix, '##');
  t.is(tok.doLowerCase, true);
  t.is(load('xlmr-unigram').continuingSubwordPrefix, null);
  t.is(typeof tok.native.encodeBatchSync, 'function');
});

test('fromJSON takes text or objects; without a config there are no special tokens', (t) => {
  const dir = path.join(fixtures, 'bert-cased');
  const json = readFileSync(path.join(dir, 'tokenizer.json'), 'utf8');
  const config = JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as object;
  const withConfig = Tokenizer.fromJSON(json, config);
  t.is(withConfig.modelMaxLength, 64);
  t.is(withConfig.specialTokens.mask_token, '[MASK]');
  t.deepEqual(
    Array.from(withConfig.encode('Hello').inputIds),
    Array.from(load('bert-cased').encode('Hello').inputIds),
  );
  const bare = Tokenizer.fromJSON(JSON.parse(json) as object);
  t.is(bare.modelMaxLength, null);
  t.is(bare.specialTokens.pad_token, null);
  // Padding needs a pad token, as in transformers.
  const err = t.throws(() => bare.encodeBatchSync(['a', 'b c'], { padding: 'longest' }));
  t.is(codeOf(err), 'ERR_INVALID_ARGUMENT');
  // No model maximum: truncation without maxLength keeps everything.
  const long = 'word '.repeat(80);
  t.is(bare.encode(long, { truncation: true }).dims[1], withConfig.encode(long).dims[1]);
});

test('concurrent async batches equal the sync results and let the event loop run', async (t) => {
  const tok = load('roberta-bpe');
  const texts = Array.from(
    { length: 600 },
    (_, i) => `Sentence ${i}: Marie Curie 🏅 lived in Paris, ${i * 7}.`,
  );
  let ticks = 0;
  let spinning = true;
  const spin = () => {
    ticks++;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  const results = await Promise.all([
    tok.encodeBatch(texts, { padding: 'longest' }),
    tok.encodeBatch(texts.slice(0, 10), { padding: 'longest' }),
    tok.encodeBatch(texts.slice(5, 40), { truncation: true, maxLength: 8 }),
  ]);
  spinning = false;
  t.true(ticks > 0);
  t.deepEqual(results[0], tok.encodeBatchSync(texts, { padding: 'longest' }));
  t.deepEqual(results[1], tok.encodeBatchSync(texts.slice(0, 10), { padding: 'longest' }));
  t.deepEqual(results[2], tok.encodeBatchSync(texts.slice(5, 40), { truncation: true, maxLength: 8 }));
});

test('empty batch gives an empty encoding', async (t) => {
  const enc = await load('bert-uncased').encodeBatch([]);
  t.deepEqual(enc.dims, [0, 0]);
  t.is(enc.inputIds.length, 0);
});

// ---- hostile input ----

test('malformed or missing tokenizer files raise ERR_TOKENIZER_LOAD naming the file', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hf-tasks-tok-'));
  try {
    const bad = path.join(dir, 'tokenizer.json');
    writeFileSync(bad, '{"version": "1.0", "model": ');
    let err = t.throws(() => Tokenizer.fromFile(bad));
    t.is(codeOf(err), 'ERR_TOKENIZER_LOAD');
    t.true(err?.message.includes(bad), err?.message);
    err = t.throws(() => Tokenizer.fromFile(dir));
    t.is(codeOf(err), 'ERR_TOKENIZER_LOAD');

    writeFileSync(bad, '{"version": "1.0", "model": {"type": "Nonsense"}}');
    err = t.throws(() => Tokenizer.fromFile(dir));
    t.is(codeOf(err), 'ERR_TOKENIZER_LOAD');

    writeFileSync(bad, readFileSync(path.join(fixtures, 'bert-uncased', 'tokenizer.json')));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), '{"model_max_length": 12,');
    err = t.throws(() => Tokenizer.fromFile(dir));
    t.is(codeOf(err), 'ERR_TOKENIZER_LOAD');
    t.true(err?.message.includes('tokenizer_config.json'), err?.message);

    writeFileSync(path.join(dir, 'tokenizer_config.json'), '{"padding_side": 3}');
    t.is(codeOf(t.throws(() => Tokenizer.fromFile(dir))), 'ERR_TOKENIZER_LOAD');

    rmSync(bad);
    err = t.throws(() => Tokenizer.fromFile(dir));
    t.is(codeOf(err), 'ERR_TOKENIZER_LOAD');
    t.is(codeOf(t.throws(() => Tokenizer.fromFile(path.join(dir, 'missing.json')))), 'ERR_TOKENIZER_LOAD');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.is(codeOf(t.throws(() => Tokenizer.fromJSON('{"a":'))), 'ERR_TOKENIZER_LOAD');
  t.is(codeOf(t.throws(() => Tokenizer.fromJSON('[]'))), 'ERR_TOKENIZER_LOAD');
  t.is(codeOf(t.throws(() => Tokenizer.fromJSON(42 as unknown as string))), 'ERR_INVALID_ARGUMENT');
  t.is(codeOf(t.throws(() => Tokenizer.fromFile(undefined as unknown as string))), 'ERR_INVALID_ARGUMENT');
});

test('token ids out of range raise ERR_TOKEN_ID; non-integers ERR_INVALID_ARGUMENT', (t) => {
  const tok = load('bert-uncased');
  const n = tok.vocabSize;
  for (const ids of [[1, n], [n + 1000], [-1], [2 ** 32], [2 ** 40]]) {
    t.is(codeOf(t.throws(() => tok.decode(ids))), 'ERR_TOKEN_ID', JSON.stringify(ids));
    t.is(codeOf(t.throws(() => tok.convertIdsToTokens(ids))), 'ERR_TOKEN_ID', JSON.stringify(ids));
  }
  t.is(codeOf(t.throws(() => tok.decode(BigInt64Array.of(-5n)))), 'ERR_TOKEN_ID');
  t.is(codeOf(t.throws(() => tok.decodeBatch([[1, 2], [n]]))), 'ERR_TOKEN_ID');
  t.is(codeOf(t.throws(() => tok.decode(Int32Array.of(3, -2)))), 'ERR_TOKEN_ID');
  for (const ids of [[Number.NaN], [1.5], [Number.POSITIVE_INFINITY], ['3'], [null]]) {
    t.is(codeOf(t.throws(() => tok.decode(ids as number[]))), 'ERR_INVALID_ARGUMENT', String(ids));
  }
  t.is(codeOf(t.throws(() => tok.decode('1 2 3' as unknown as number[]))), 'ERR_INVALID_ARGUMENT');
  t.is(codeOf(t.throws(() => tok.decode([1], 'yes' as unknown as object))), 'ERR_INVALID_ARGUMENT');
  t.is(
    codeOf(t.throws(() => tok.decode([1], { skip_special_tokens: 1 as unknown as boolean }))),
    'ERR_INVALID_ARGUMENT',
  );
  t.is(codeOf(t.throws(() => tok.decodeBatch({} as unknown as number[][]))), 'ERR_INVALID_ARGUMENT');
});

test('bad numeric and enum options raise ERR_INVALID_ARGUMENT', async (t) => {
  const tok = load('bert-uncased');
  const bad: Array<Record<string, unknown>> = [
    { maxLength: -1 },
    { maxLength: Number.NaN },
    { maxLength: 1.5 },
    { maxLength: '8' },
    { maxLength: Number.POSITIVE_INFINITY },
    { stride: -2 },
    { stride: Number.NaN },
    { padToMultipleOf: 0 },
    { truncation: 'bogus' },
    { truncation: 1 },
    { padding: 'yes' },
    { paddingSide: 'middle' },
    { truncationSide: 'up' },
    { offsets: 'bytes' },
    { addSpecialTokens: 'no' },
    { returnOverflowing: 1 },
    { max_length: 8 },
  ];
  for (const options of bad) {
    const err = t.throws(() => tok.encode('hello', options as EncodeOptions));
    t.is(codeOf(err), 'ERR_INVALID_ARGUMENT', JSON.stringify(options));
    const aerr = await t.throwsAsync(tok.encodeBatch(['hello'], options as EncodeOptions));
    t.is(codeOf(aerr), 'ERR_INVALID_ARGUMENT', JSON.stringify(options));
  }
  t.is(
    codeOf(t.throws(() => tok.encode('hello', 'fast' as unknown as EncodeOptions))),
    'ERR_INVALID_ARGUMENT',
  );
  // pad_to_multiple_of must divide max_length when truncating and padding (transformers' check).
  const err = t.throws(() =>
    tok.encode('hello', { truncation: true, maxLength: 10, padding: 'max_length', padToMultipleOf: 4 }),
  );
  t.is(codeOf(err), 'ERR_INVALID_ARGUMENT');
});

test('wrong JS input types raise ERR_INVALID_ARGUMENT, never a crash', async (t) => {
  const tok = load('bert-uncased');
  const cases: unknown[] = [
    'text',
    5,
    null,
    [5],
    [['a']],
    [['a', 'b', 'c']],
    [['a', 3]],
    [{ text: 'a' }],
    [undefined],
  ];
  for (const inputs of cases) {
    const err = await t.throwsAsync(tok.encodeBatch(inputs as TokenizerInput[]));
    t.is(codeOf(err), 'ERR_INVALID_ARGUMENT', JSON.stringify(inputs));
    t.is(codeOf(t.throws(() => tok.encodeBatchSync(inputs as TokenizerInput[]))), 'ERR_INVALID_ARGUMENT');
  }
  t.is(codeOf(t.throws(() => tok.encode(5 as unknown as string))), 'ERR_INVALID_ARGUMENT');
  t.is(codeOf(t.throws(() => tok.encodePair('a', null as unknown as string))), 'ERR_INVALID_ARGUMENT');
  t.is(codeOf(t.throws(() => tok.convertTokensToString([1] as unknown as string[]))), 'ERR_INVALID_ARGUMENT');
  t.is(codeOf(t.throws(() => tok.tokenToId({} as unknown as string))), 'ERR_INVALID_ARGUMENT');
  // The addon itself, called with wrong types, throws an error instead of crashing.
  t.throws(() => tok.native.encodeBatchSync([1] as unknown as string[]));
  t.throws(() => tok.native.decode([1, 2] as unknown as Uint32Array));
  t.throws(() => tok.native.decodeBatch(Uint32Array.of(1, 2), Uint32Array.of(5)));
  t.throws(() => tok.native.encodeBatchSync(['a', 'b'], ['x']));
});

test('lone surrogates are rejected; paired ones are fine', async (t) => {
  const tok = load('roberta-bpe');
  for (const bad of ['a\uD800b', '\uDC00', 'end\uD83D', '\uDE00start']) {
    t.is(codeOf(t.throws(() => tok.encode(bad))), 'ERR_INVALID_ARGUMENT', JSON.stringify(bad));
    t.is(codeOf(t.throws(() => tok.encodePair('ok', bad))), 'ERR_INVALID_ARGUMENT');
    t.is(codeOf(await t.throwsAsync(tok.encodeBatch([['ok', bad]]))), 'ERR_INVALID_ARGUMENT');
    t.is(codeOf(t.throws(() => tok.convertTokensToString([bad]))), 'ERR_INVALID_ARGUMENT');
  }
  const ok = tok.encode('\uD83D\uDE00 fine', { offsets: 'utf16' });
  t.true(ok.dims[1] > 2);
});

test('withPadTokenId pads input_ids with that id, also for a tokenizer without a pad token', async (t) => {
  const dir = path.join(here, '..', 'fixtures', 'models', 'gpt2-tiny');
  const tok = Tokenizer.fromFile(dir);
  t.is(tok.specialTokens.pad_token_id, null);
  await t.throwsAsync(tok.encodeBatch(['a b c d', 'a'], { padding: true }), { message: /pad/ });
  const padded = tok.withPadTokenId(7);
  t.is(padded.padTokenId, 7);
  t.is(padded.specialTokens.pad_token_id, null, "the tokenizer's own pad token, as Python reports it");
  const plain = tok.encodeBatchSync(['a b c d', 'a']);
  for (const enc of [
    await padded.encodeBatch(['a b c d', 'a'], { padding: true }),
    padded.encodeBatchSync(['a b c d', 'a'], { padding: 'longest' }),
  ]) {
    t.deepEqual(enc.dims, plain.dims);
    const [, len] = enc.dims;
    t.deepEqual(Array.from(enc.lengths), [len, len], 'padded lengths, as native padding reports them');
    t.deepEqual(Array.from(enc.attentionMask), Array.from(plain.attentionMask));
    for (let i = 0; i < enc.inputIds.length; i++) {
      const want = plain.attentionMask[i] === 1n ? plain.inputIds[i] : 7n;
      t.is(enc.inputIds[i], want, `position ${i}`);
    }
  }
  t.throws(() => tok.withPadTokenId(-1));
  t.throws(() => tok.withPadTokenId(tok.vocabSize));
});

const variants = (
  goldens as unknown as {
    post_processor_variants: Record<
      string,
      {
        config: Record<string, unknown>;
        cases: { text: string; pair: string | null; input_ids: number[]; special_tokens_mask: number[] }[];
      }
    >;
  }
).post_processor_variants;

test('Llama-style classes add BOS/EOS from add_bos_token / add_eos_token, as transformers loads them', async (t) => {
  const base = path.join(here, '..', 'fixtures', 'models', 'llama-tiny');
  const json = readFileSync(path.join(base, 'tokenizer.json'), 'utf8');
  const map = readFileSync(path.join(base, 'special_tokens_map.json'), 'utf8');
  t.true(Object.keys(variants).length >= 5);
  for (const [name, v] of Object.entries(variants)) {
    const tok = Tokenizer.fromJSON(json, v.config, map);
    for (const c of v.cases) {
      const enc = await tok.encodeBatch([c.pair === null ? c.text : [c.text, c.pair]], { padding: false });
      const n = enc.lengths[0] as number;
      t.deepEqual(
        Array.from(enc.inputIds.subarray(0, n), Number),
        c.input_ids,
        `${name} ${JSON.stringify(c)}`,
      );
      t.deepEqual(Array.from(enc.specialTokensMask.subarray(0, n)), c.special_tokens_mask, `${name} mask`);
    }
  }
});

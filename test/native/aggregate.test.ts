import { readFileSync } from 'node:fs';
import test from 'ava';
import { aggregateTokens, NativeError, type TokenClassificationInput, Tokenizer } from '../../ts/index.js';

const fixtures = new URL('../fixtures/', import.meta.url);

type Entity = Record<string, string | number>;
type GoldenCase = {
  name: string;
  tokenizer: string;
  text: string;
  windows: number;
  seq: number;
  labels: number;
  id2label: string[];
  input_ids: number[];
  special_tokens_mask: number[];
  offsets: number[];
  logits: number[];
  runs: { ignore_labels: string[]; expected: Record<string, Entity[]> }[];
};

const golden = JSON.parse(readFileSync(new URL('goldens/aggregate.json', fixtures), 'utf8')) as {
  cases: GoldenCase[];
};

const tokenizers = new Map<string, Tokenizer>();
function tokenizer(name: string): Tokenizer {
  let tok = tokenizers.get(name);
  if (!tok) {
    tok = Tokenizer.fromFile(new URL(`tokenizers/${name}`, fixtures).pathname);
    tokenizers.set(name, tok);
  }
  return tok;
}

function input(c: GoldenCase, strategy: string, ignore?: string[]): TokenClassificationInput {
  return {
    text: c.text,
    logits: new Float32Array(c.logits),
    windows: c.windows,
    seq: c.seq,
    labels: c.labels,
    inputIds: BigInt64Array.from(c.input_ids.map(BigInt)),
    specialTokensMask: Uint8Array.from(c.special_tokens_mask),
    offsets: Uint32Array.from(c.offsets),
    id2label: c.id2label,
    aggregationStrategy: strategy,
    ...(ignore === undefined ? {} : { ignoreLabels: ignore }),
  };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof NativeError) return err.code;
    return `not a NativeError: ${String(err)}`;
  }
  return undefined;
}

test('aggregation matches the reference pipeline goldens, keys in wire order', (t) => {
  let entities = 0;
  let maxDiff = 0;
  for (const c of golden.cases) {
    const tok = tokenizer(c.tokenizer);
    for (const run of c.runs) {
      for (const [strategy, expected] of Object.entries(run.expected)) {
        const got = aggregateTokens(tok.native, input(c, strategy, run.ignore_labels)) as unknown as Entity[];
        const ctx = `${c.name} ${strategy} ignore=${run.ignore_labels.join(',')}`;
        t.is(got.length, expected.length, ctx);
        got.forEach((g, i) => {
          const e = expected[i]!;
          t.deepEqual(Object.keys(g), Object.keys(e), ctx);
          for (const key of Object.keys(e)) {
            if (key === 'score') {
              const diff = Math.abs((g.score as number) - (e.score as number));
              maxDiff = Math.max(maxDiff, diff);
              t.true(diff < 1e-5, `${ctx}: score ${g.score} vs ${e.score}`);
            } else {
              t.is(g[key], e[key], `${ctx}: ${key}`);
            }
          }
          entities++;
        });
      }
    }
  }
  t.true(entities > 1000);
  t.log(`${entities} entities, max score diff ${maxDiff}`);
});

test('ignoreLabels defaults to ["O"]', (t) => {
  const c = golden.cases.find((x) => x.runs.some((r) => r.ignore_labels.join() === 'O'))!;
  const run = c.runs.find((r) => r.ignore_labels.join() === 'O')!;
  const got = aggregateTokens(tokenizer(c.tokenizer).native, input(c, 'simple'));
  t.is(got.length, run.expected.simple!.length);
});

test('our encoding of the golden texts gives the reference ids, mask and offsets', (t) => {
  for (const c of golden.cases.filter((x) => x.windows === 1)) {
    const enc = tokenizer(c.tokenizer).encode(c.text, { truncation: true });
    t.deepEqual([...enc.inputIds].map(Number), c.input_ids.slice(0, enc.dims[1]), `${c.name}: ids`);
    t.deepEqual([...enc.specialTokensMask], c.special_tokens_mask, `${c.name}: special tokens mask`);
    t.deepEqual([...enc.offsets], c.offsets, `${c.name}: offsets`);
  }
});

test('end to end: offsets are code points after an astral character, UNK keeps the original text', (t) => {
  const tok = tokenizer('bert-cased');
  const text = '😀 John lives in Paris';
  const enc = tok.encode(text);
  const [, seq] = enc.dims;
  const labels = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC'];
  const logits = new Float32Array(seq * labels.length);
  // Label every token by the word its code-point span covers: John 2..6 (PER), Paris 16..21 (LOC).
  for (let i = 0; i < seq; i++) {
    const start = enc.offsets[2 * i]!;
    const end = enc.offsets[2 * i + 1]!;
    const label = start >= 2 && end <= 6 ? 1 : start >= 16 && end <= 21 ? 3 : 0;
    logits[i * labels.length + label] = 8;
  }
  const none = aggregateTokens(tok.native, {
    text,
    logits,
    windows: 1,
    seq,
    labels: labels.length,
    inputIds: enc.inputIds,
    specialTokensMask: enc.specialTokensMask,
    offsets: enc.offsets,
    id2label: labels,
    aggregationStrategy: 'none',
    ignoreLabels: [],
  }) as unknown as Entity[];
  t.is(none[0]!.word, '😀', 'the emoji is [UNK]: word is the original text');
  t.is(none[0]!.index, 1);
  const grouped = aggregateTokens(tok.native, {
    text,
    logits,
    windows: 1,
    seq,
    labels: labels.length,
    inputIds: enc.inputIds,
    specialTokensMask: enc.specialTokensMask,
    offsets: enc.offsets,
    id2label: labels,
    aggregationStrategy: 'FIRST',
  }) as unknown as Entity[];
  const john = grouped.find((e) => e.entity_group === 'PER')!;
  t.is(john.start, 2, 'code points: the emoji counts once');
  t.is(john.end, 6);
  t.is(text.slice(3, 7), 'John', 'UTF-16 index would be 3');
  const paris = grouped.find((e) => e.entity_group === 'LOC')!;
  t.deepEqual([paris.word, paris.start, paris.end], ['Paris', 16, 21]);
});

test('hostile input raises typed errors, never a crash', (t) => {
  const c = golden.cases.find((x) => x.windows === 1 && x.seq > 4)!;
  const tok = tokenizer(c.tokenizer).native;
  const base = () => input(c, 'simple');
  const run = (patch: Partial<Record<keyof TokenClassificationInput, unknown>>) =>
    code(() => aggregateTokens(tok, { ...base(), ...patch } as TokenClassificationInput));

  t.is(run({}), undefined);
  t.is(run({ logits: new Float32Array(c.logits.length - 1) }), 'ERR_DIMS');
  t.is(run({ seq: c.seq + 1 }), 'ERR_DIMS');
  t.is(run({ labels: 0, logits: new Float32Array(0), id2label: [] }), 'ERR_DIMS');
  t.is(run({ id2label: c.id2label.slice(1) }), 'ERR_DIMS');
  t.is(run({ offsets: new Uint32Array(3) }), 'ERR_DIMS');
  t.is(run({ specialTokensMask: new Uint8Array(1) }), 'ERR_DIMS');
  t.is(run({ windows: 2 ** 53, seq: 2 ** 53 }), 'ERR_DIMS');
  t.is(run({ windows: -1 }), 'ERR_DIMS');
  t.is(run({ seq: 1.5 }), 'ERR_DIMS');

  const nan = new Float32Array(c.logits);
  nan[nan.length - 1] = Number.NaN;
  t.is(run({ logits: nan }), 'ERR_NON_FINITE');
  const inf = new Float32Array(c.logits);
  inf[0] = Number.NEGATIVE_INFINITY;
  t.is(run({ logits: inf }), 'ERR_NON_FINITE');

  const realPos = c.special_tokens_mask.indexOf(0);
  const ids = (v: bigint) => {
    const a = BigInt64Array.from(c.input_ids.map(BigInt));
    a[realPos] = v;
    return a;
  };
  t.is(run({ inputIds: ids(-5n) }), 'ERR_TOKEN_ID');
  t.is(run({ inputIds: ids(2n ** 40n) }), 'ERR_TOKEN_ID');
  t.is(run({ inputIds: ids(999_999n) }), 'ERR_TOKEN_ID');
  const badOffsets = Uint32Array.from(c.offsets);
  badOffsets[2 * realPos + 1] = [...c.text].length + 1;
  t.is(run({ offsets: badOffsets }), 'ERR_INVALID_ARGUMENT');

  const err = t.throws(() => aggregateTokens(tok, { ...base(), aggregationStrategy: 'mean' }));
  t.is((err as NativeError).code, 'ERR_INVALID_ARGUMENT');
  t.regex(err!.message, /none, simple, first, average, max/);
  t.is(run({ aggregationStrategy: 'AvErAgE' }), undefined);

  // Wrong JS types.
  t.is(run({ logits: [...c.logits] }), 'ERR_INVALID_ARGUMENT');
  t.is(run({ inputIds: Int32Array.from(c.input_ids) }), 'ERR_INVALID_ARGUMENT');
  t.is(run({ text: 42 }), 'ERR_INVALID_ARGUMENT');
  t.is(run({ id2label: 'O' }), 'ERR_INVALID_ARGUMENT');
  t.is(run({ windows: '1' }), 'ERR_INVALID_ARGUMENT');
  t.is(run({ aggregationStrategy: undefined }), 'ERR_INVALID_ARGUMENT');
  const wrongTokenizer = (v: unknown) => code(() => aggregateTokens(v as Tokenizer['native'], base()));
  t.is(wrongTokenizer(tokenizer(c.tokenizer)), 'ERR_INVALID_ARGUMENT');
  t.is(wrongTokenizer(null), 'ERR_INVALID_ARGUMENT');
  t.is(wrongTokenizer({}), 'ERR_INVALID_ARGUMENT');
  t.is(
    code(() => (aggregateTokens as unknown as (...a: unknown[]) => unknown)(tok)),
    'ERR_INVALID_ARGUMENT',
  );
});

test('empty inputs give no entities', (t) => {
  const tok = tokenizer('bert-cased').native;
  const empty = {
    text: '',
    logits: new Float32Array(0),
    windows: 0,
    seq: 0,
    labels: 2,
    inputIds: new BigInt64Array(0),
    specialTokensMask: new Uint8Array(0),
    offsets: new Uint32Array(0),
    id2label: ['O', 'X'],
    aggregationStrategy: 'simple',
  };
  t.deepEqual(aggregateTokens(tok, empty), []);
  const specialsOnly = {
    ...empty,
    windows: 1,
    seq: 2,
    logits: new Float32Array(4),
    inputIds: BigInt64Array.from([2n, 3n]),
    specialTokensMask: Uint8Array.from([1, 1]),
    offsets: new Uint32Array(4),
  };
  t.deepEqual(aggregateTokens(tok, specialsOnly), []);
});

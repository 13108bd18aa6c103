import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { HfTasksError } from '../../ts/errors.js';
import {
  BeamSearch,
  type BeamSearchConfig,
  type DecodingConfig,
  TokenSampler,
} from '../../ts/generation/kernels.js';
import { Tokenizer } from '../../ts/tokenizer.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures');

interface ProcessorCase {
  name: string;
  config: DecodingConfig;
  ids: number[];
  promptLength: number;
  logits: number[];
  scores: Array<number | null>;
  argmax: number;
  logprob: number;
}

interface BeamCase {
  name: string;
  config: BeamSearchConfig;
  prompt: number[];
  vocab: number;
  sequences: number[][];
  scores: number[];
}

interface Golden {
  processors: ProcessorCase[];
  beam: {
    vocab: number;
    positions: number;
    last: number[];
    previous: number[];
    position: number[];
    cases: BeamCase[];
  };
}

const golden = JSON.parse(
  readFileSync(path.join(fixtures, 'goldens', 'generation-kernels.json'), 'utf8'),
) as Golden;

const toScores = (xs: Array<number | null>) =>
  Float32Array.from(xs, (x) => (x === null ? Number.NEGATIVE_INFINITY : x));

function close(a: number, b: number, tol: number): boolean {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
}

test('processors and warpers match transformers 4.57 on every golden case', (t) => {
  t.true(golden.processors.length >= 50);
  for (const c of golden.processors) {
    // Beam-sampling warper cases (min_tokens_to_keep > 1) are checked by the Rust tests.
    if ((c.config as { numBeams?: number }).numBeams !== undefined) continue;
    const sampler = new TokenSampler(c.config, 0);
    const got = sampler.scores(Float32Array.from(c.logits), Int32Array.from(c.ids), c.promptLength);
    const want = toScores(c.scores);
    const bad = want.findIndex((w, i) => !close(got[i] as number, w, 1e-6));
    t.is(bad, -1, `${c.name}: index ${bad}`);
    // Greedy argmax on the processed scores, with its log-probability.
    const greedy = new TokenSampler({}).next(want, Int32Array.from(c.ids), c.promptLength);
    t.is(greedy.token, c.argmax, c.name);
    t.true(close(greedy.logprob, c.logprob, 1e-5), `${c.name}: logprob ${greedy.logprob} vs ${c.logprob}`);
  }
});

function fakeLogits(seq: ArrayLike<number>): Float32Array {
  const { vocab: v, positions, last, previous, position } = golden.beam;
  const n = seq.length;
  const a = seq[n - 1] as number;
  const b = n >= 2 ? (seq[n - 2] as number) : 0;
  const p = n % positions;
  const out = new Float32Array(v);
  for (let t = 0; t < v; t++) {
    // f32 sums in the reference's order; the table values are multiples of 1/64 (exact).
    out[t] = Math.fround(
      Math.fround((last[a * v + t] as number) + (previous[b * v + t] as number)) +
        (position[p * v + t] as number),
    );
  }
  return out;
}

test('beam search matches transformers 4.57 _beam_search on every golden case', (t) => {
  t.true(golden.beam.cases.length >= 72);
  for (const c of golden.beam.cases) {
    const bs = new BeamSearch(c.config, Int32Array.from(c.prompt));
    let steps = 0;
    for (;;) {
      const rows = bs.sequences();
      const logits = new Float32Array(rows.length * c.vocab);
      rows.forEach((r, i) => {
        logits.set(fakeLogits(r), i * c.vocab);
      });
      const step = bs.step(logits);
      t.is(step.beamIndices.length, c.config.numBeams);
      t.is(step.tokens.length, c.config.numBeams);
      steps++;
      if (step.done) break;
      t.true(steps < 100, c.name);
    }
    t.true(bs.done);
    const out = bs.finalize();
    t.deepEqual(
      out.sequences.map((s) => Array.from(s)),
      c.sequences,
      c.name,
    );
    c.scores.forEach((s, i) => {
      t.true(close(out.scores[i] as number, s, 1e-5), `${c.name}: score ${i}`);
    });
    t.is(out.lengths.length, c.sequences.length);
  }
});

test('the beam step reports the source beam and token of every new beam', (t) => {
  const cfg: BeamSearchConfig = { numBeams: 2, maxLength: 4, eosTokenIds: [0] };
  const bs = new BeamSearch(cfg, Int32Array.of(1));
  const row = [-5, 0, 3, 1];
  const step = bs.step(Float32Array.from([...row, ...row]));
  t.deepEqual(Array.from(step.beamIndices), [0, 0]);
  t.deepEqual(Array.from(step.tokens), [2, 3]);
  t.deepEqual(
    bs.sequences().map((s) => Array.from(s)),
    [
      [1, 2],
      [1, 3],
    ],
  );
});

test('a beam step with stopAll finishes the best candidates (time is up)', (t) => {
  const bs = new BeamSearch(
    { numBeams: 2, maxLength: 20, eosTokenIds: [0], numReturnSequences: 2 },
    Int32Array.of(1),
  );
  const row = [-5, 0, 3, 1];
  t.false(bs.step(Float32Array.from([...row, ...row])).done);
  t.true(bs.step(Float32Array.from([...row, ...row]), { stopAll: true }).done);
  const out = bs.finalize();
  t.deepEqual(
    out.sequences.map((s) => Array.from(s)),
    [
      [2, 2],
      [2, 3],
    ],
  );
  t.deepEqual(out.lengths, [2, 2]);
  expectCode(
    t,
    () => bs.step(Float32Array.from([...row, ...row])),
    'ERR_INVALID_ARGUMENT',
    'step after the end',
  );
});

test('a caller-side stop criterion finishes the candidates it matches', (t) => {
  const bs = new BeamSearch(
    { numBeams: 2, maxLength: 20, eosTokenIds: [0], numReturnSequences: 2 },
    Int32Array.of(1),
  );
  const row = [-5, 0, 3, 1];
  const seen: number[][] = [];
  const step = bs.step(Float32Array.from([...row, ...row]), {
    isStop: (c) => {
      seen.push(Array.from(c));
      return c.at(-1) === 2;
    },
  });
  t.deepEqual(seen, [
    [1, 2],
    [1, 3],
    [1, 1],
    [1, 0],
  ]);
  t.deepEqual(Array.from(step.tokens), [3, 1]);
  t.false(step.done);
});

function expectCode(t: import('ava').ExecutionContext, f: () => unknown, code: string, what: string) {
  const err = t.throws(f, undefined, what) as (Error & { code?: string }) | undefined;
  t.true(err instanceof HfTasksError, what);
  t.is(err?.code, code, what);
}

test('bad configurations, seeds and buffers are typed errors, never crashes', (t) => {
  const bad: Array<[DecodingConfig, string]> = [
    [{ topP: 2 }, 'topP'],
    [{ doSample: true, temperature: 0 }, 'temperature 0'],
    [{ repetitionPenalty: -1 }, 'repetitionPenalty'],
    [{ badWordsIds: [[]] }, 'empty bad word'],
    [{ badWordsIds: [] }, 'no bad words'],
    [{ typicalP: 0 }, 'typicalP'],
    [{ topK: 1.5 }, 'topK'],
    [{ eosTokenIds: [-1] }, 'negative eos'],
    [{ forcedEosTokenIds: [2] }, 'forced eos without maxLength'],
    [{ topK: 'x' as unknown as number }, 'string topK'],
  ];
  for (const [cfg, what] of bad) expectCode(t, () => new TokenSampler(cfg, 1), 'ERR_INVALID_ARGUMENT', what);
  expectCode(t, () => new TokenSampler({}, -1), 'ERR_INVALID_ARGUMENT', 'negative seed');
  expectCode(t, () => new TokenSampler({}, 0.5), 'ERR_INVALID_ARGUMENT', 'fractional seed');

  const s = new TokenSampler({ repetitionPenalty: 1.2 }, 1);
  expectCode(t, () => s.next(new Float32Array(0), Int32Array.of(1), 1), 'ERR_DIMS', 'empty logits');
  expectCode(
    t,
    () => s.next(Float32Array.of(1, Number.NaN), Int32Array.of(1), 1),
    'ERR_NON_FINITE',
    'NaN logits',
  );
  expectCode(
    t,
    () => s.next(Float32Array.of(1, 2), Int32Array.of(5), 1),
    'ERR_TOKEN_ID',
    'id out of vocabulary',
  );
  expectCode(
    t,
    () => s.next(Float32Array.of(1, 2), Int32Array.of(1), 3),
    'ERR_INVALID_ARGUMENT',
    'promptLength',
  );
  const allBanned = new TokenSampler({ doSample: true, suppressTokens: [0, 1] }, 1);
  expectCode(
    t,
    () => allBanned.next(Float32Array.of(1, 2), Int32Array.of(1), 1),
    'ERR_INVALID_ARGUMENT',
    'nothing left',
  );

  const beam = (cfg: Partial<BeamSearchConfig>) => () =>
    new BeamSearch({ numBeams: 2, maxLength: 5, ...cfg } as BeamSearchConfig, Int32Array.of(1));
  expectCode(t, beam({ numBeams: 0 }), 'ERR_INVALID_ARGUMENT', 'numBeams 0');
  expectCode(t, beam({ numReturnSequences: 3 }), 'ERR_INVALID_ARGUMENT', 'numReturnSequences');
  expectCode(
    t,
    beam({ earlyStopping: 'sometimes' as unknown as boolean }),
    'ERR_INVALID_ARGUMENT',
    'earlyStopping',
  );
  expectCode(t, beam({ maxLength: 1 }), 'ERR_INVALID_ARGUMENT', 'maxLength <= prompt');
  const bs = new BeamSearch({ numBeams: 2, maxLength: 5, eosTokenIds: [0] }, Int32Array.of(1));
  expectCode(t, () => bs.step(new Float32Array(7)), 'ERR_DIMS', 'logits not numBeams rows');
  expectCode(
    t,
    () => bs.step(Float32Array.of(0, 1, Number.POSITIVE_INFINITY, 2, 0, 1, 2, 3)),
    'ERR_NON_FINITE',
    'inf',
  );
  // The search is still usable after a rejected step.
  t.false(bs.step(Float32Array.of(0, 1, 2, 3, 0, 1, 2, 3)).done);
});

test('beam sampling: a seed repeats the search exactly', (t) => {
  const cfg: BeamSearchConfig = {
    numBeams: 3,
    maxLength: 10,
    eosTokenIds: [0],
    doSample: true,
    temperature: 1.3,
    numReturnSequences: 2,
  };
  const run = (seed: number) => {
    const bs = new BeamSearch(cfg, Int32Array.of(1), seed);
    while (!bs.done) {
      const rows = bs.sequences();
      const logits = new Float32Array(rows.length * golden.beam.vocab);
      rows.forEach((r, i) => {
        logits.set(fakeLogits(r), i * golden.beam.vocab);
      });
      bs.step(logits);
    }
    const out = bs.finalize();
    return { sequences: out.sequences.map((s) => Array.from(s)), scores: out.scores };
  };
  const a = run(9);
  t.deepEqual(run(9), a);
  t.is(a.sequences.length, 2);
  t.true(
    Array.from({ length: 10 }, (_, s) => run(100 + s)).some((r) => JSON.stringify(r) !== JSON.stringify(a)),
  );
  expectCode(t, () => new BeamSearch(cfg, Int32Array.of(1), -3), 'ERR_INVALID_ARGUMENT', 'bad seed');
});

function randomRows(n: number, vocab: number, seed: number): Float32Array[] {
  let x = seed >>> 0;
  const next = () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
  return Array.from({ length: n }, () => Float32Array.from({ length: vocab }, () => (next() - 0.5) * 8));
}

test('sampling with topK 1 equals greedy', (t) => {
  const greedy = new TokenSampler({ repetitionPenalty: 1.3 });
  const topOne = new TokenSampler({ repetitionPenalty: 1.3, doSample: true, topK: 1, temperature: 0.7 }, 123);
  const ids = Int32Array.of(3, 4, 5);
  for (const row of randomRows(200, 50, 7)) {
    const g = greedy.next(row, ids, 1);
    const s = topOne.next(row, ids, 1);
    t.is(s.token, g.token);
    t.is(s.logprob, 0);
  }
});

test('a seed repeats exactly; one stream per sequence whatever else runs', (t) => {
  const cfg: DecodingConfig = { doSample: true, temperature: 1.2, topP: 0.95 };
  const rows = randomRows(100, 30, 11);
  const ids = Int32Array.of(0);
  const run = (seed: number) => {
    const s = new TokenSampler(cfg, seed);
    return rows.map((r) => s.next(r, ids, 1).token);
  };
  const a = run(42);
  t.deepEqual(run(42), a);
  t.notDeepEqual(run(43), a);
  // Interleaving another sequence's sampler does not change this one's tokens.
  const s1 = new TokenSampler(cfg, 42);
  const s2 = new TokenSampler(cfg, 7);
  const inter = rows.map((r) => {
    s2.next(r, ids, 1);
    return s1.next(r, ids, 1).token;
  });
  t.deepEqual(inter, a);
  t.is(new TokenSampler(cfg, 2 ** 53 - 1).seed, 2 ** 53 - 1);
  const random = new TokenSampler(cfg);
  t.true(Number.isInteger(random.seed) && random.seed >= 0);
});

test('sampled first tokens follow the processed distribution (chi-square)', (t) => {
  const cfg: DecodingConfig = { doSample: true, temperature: 0.8, topK: 6, topP: 0.97 };
  const logits = Float32Array.of(1.2, -0.3, 0.4, 2.0, 0.9, -1.5, 0.1, 1.6, -0.7, 0.0);
  const ids = Int32Array.of(0);
  const scores = new TokenSampler(cfg, 0).scores(logits, ids, 1);
  const max = Math.max(...scores);
  const w = Array.from(scores, (s) => Math.exp(s - max));
  const total = w.reduce((a, b) => a + b, 0);
  const p = w.map((x) => x / total);
  const n = 10_000;
  const counts = new Array<number>(logits.length).fill(0);
  for (let seed = 0; seed < n; seed++) {
    const { token } = new TokenSampler(cfg, seed).next(logits, ids, 1);
    counts[token] = (counts[token] as number) + 1;
  }
  let chi2 = 0;
  let categories = 0;
  p.forEach((pi, i) => {
    if (pi === 0) {
      t.is(counts[i], 0, `removed token ${i} was sampled`);
      return;
    }
    categories++;
    const e = pi * n;
    chi2 += ((counts[i] as number) - e) ** 2 / e;
  });
  // 6 kept tokens (top-k 6, top-p keeps them all): 5 degrees of freedom; the critical value at
  // p = 0.001 is 20.515, so a correct sampler fails with probability 1/1000 (the seeds are fixed).
  t.is(categories, 6);
  t.true(chi2 < 20.515, `chi2 = ${chi2}, counts ${counts.join(',')}`);
});

const streamTexts = [
  'Hello world! Streaming text, piece by piece.',
  'naïve café — déjà vu 😀👍🏽 emoji and 世界你好 CJK; Ελληνικά, русский, עברית',
  '  leading spaces,\ttabs\nand newlines   ',
  '🇫🇷🧑‍🚀 ZWJ sequences and flags',
];

function encodeIds(tok: Tokenizer, text: string, addSpecialTokens: boolean): number[] {
  const enc = tok.encodeBatchSync([text], { addSpecialTokens });
  return Array.from(enc.inputIds.subarray(0, enc.lengths[0]), Number);
}

// Byte-level BPE (RoBERTa, GPT-2), SentencePiece Unigram with Metaspace (XLM-R), SentencePiece
// BPE with byte fallback and a stripped leading space (Llama), WordPiece (BERT).
for (const name of [
  'tokenizers/roberta-bpe',
  'models/gpt2-tiny',
  'tokenizers/xlmr-unigram',
  'models/llama-tiny',
  'tokenizers/bert-uncased',
]) {
  test(`decodeStream concatenates to decode (${name})`, (t) => {
    const tok = Tokenizer.fromFile(path.join(fixtures, name));
    for (const text of streamTexts) {
      const ids = encodeIds(tok, text, true);
      for (const skip of [true, false]) {
        const stream = tok.decodeStream({ skip_special_tokens: skip });
        const pieces = ids.map((id) => stream.step(id));
        const rest = stream.flush();
        const full = tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
        t.is(pieces.join('') + rest, full, `${name} skip=${skip}: ${text}`);
        // A trailing run of byte-fallback tokens is held until flush (a later byte could still
        // turn the whole run into U+FFFD); anything else is emitted as soon as it is final.
        const last = ids.length > 0 ? tok.convertIdsToTokens([ids[ids.length - 1] ?? 0])[0] : '';
        const endsInByteRun = /^<0x[0-9A-F]{2}>$/i.test(last ?? '');
        if (!full.includes('\uFFFD')) {
          if (!endsInByteRun) t.is(rest, '', `${name}: nothing held back`);
          for (const piece of pieces)
            t.false(piece.includes('\uFFFD'), `${name}: garbage piece ${JSON.stringify(piece)}`);
        }
      }
    }
  });
}

test('decodeStream holds back a split UTF-8 character (byte-level BPE)', (t) => {
  const tok = Tokenizer.fromFile(path.join(fixtures, 'tokenizers', 'roberta-bpe'));
  const ids = encodeIds(tok, '😀', false);
  const stream = tok.decodeStream({ skip_special_tokens: true });
  const pieces = ids.map((id) => stream.step(id));
  t.true(ids.length > 1, 'the emoji spans several byte tokens');
  t.deepEqual(pieces.slice(0, -1), new Array(ids.length - 1).fill(''));
  t.is(pieces.at(-1), '😀');
  expectCode(t, () => stream.step(-1), 'ERR_TOKEN_ID', 'negative id');
  expectCode(t, () => stream.step(10 ** 9), 'ERR_TOKEN_ID', 'unknown id');
});

test('decodeStream holds a byte-fallback run that a later byte turns into U+FFFD (Llama)', (t) => {
  const tok = Tokenizer.fromFile(path.join(fixtures, 'models', 'llama-tiny'));
  const byteIds = ['<0x0A>', '<0xE2>', '<0x80>']
    .map((s) => tok.tokenToId(s))
    .filter((id): id is number => id !== null);
  t.is(byteIds.length, 3, 'the tokenizer has byte-fallback tokens');
  const words = encodeIds(tok, 'one two', false);
  // A newline byte, then the first bytes of a three-byte character that never completes, then
  // ordinary tokens: the decoder renders the whole invalid run as U+FFFD, newline included.
  for (const ids of [
    [...words, ...byteIds, ...words],
    [...words, byteIds[0] ?? 0, ...words],
    [...byteIds.slice(1), ...words, ...byteIds],
  ]) {
    const stream = tok.decodeStream({ skip_special_tokens: true });
    const pieces = ids.map((id) => stream.step(id));
    const full = tok.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    t.is(pieces.join('') + stream.flush(), full, JSON.stringify(ids));
  }
});

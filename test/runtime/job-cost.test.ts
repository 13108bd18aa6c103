import test from 'ava';
import {
  DEFAULT_FIXED_TOKENS,
  JobCostModel,
  MAX_FIXED_TOKENS,
  type PartitionLimits,
  partitionByLength,
} from '../../ts/runtime/job-cost.js';

const LIMITS: PartitionLimits = { rows: 32, tokens: 8192, padding: 1, fixedTokens: 16 };

/** Total cost of a cut: one fixed part per group plus its padded tokens. */
function costOf(lens: number[], rows: number[], cut: Array<[number, number]>, fixed: number): number {
  let total = 0;
  for (const [a, b] of cut) {
    let r = 0;
    for (let i = a; i < b; i++) r += rows[i] as number;
    total += fixed + r * (lens[b - 1] as number);
  }
  return total;
}

/** Every cut of n items into consecutive groups, as [start, end) ranges. */
function allCuts(n: number): Array<Array<[number, number]>> {
  if (n === 0) return [[]];
  const out: Array<Array<[number, number]>> = [];
  for (let last = 0; last < n; last++) {
    for (const head of allCuts(last)) out.push([...head, [last, n]]);
  }
  return out;
}

function valid(lens: number[], rows: number[], cut: Array<[number, number]>, l: PartitionLimits): boolean {
  return cut.every(([a, b]) => {
    if (b - a === 1) return true;
    let r = 0;
    let real = 0;
    for (let i = a; i < b; i++) {
      r += rows[i] as number;
      real += (rows[i] as number) * (lens[i] as number);
    }
    const padded = r * (lens[b - 1] as number);
    return (
      r <= l.rows &&
      padded <= l.tokens &&
      padded - real <= l.padding * padded &&
      real <= (l.realTokens ?? Number.POSITIVE_INFINITY)
    );
  });
}

test('partitionByLength finds the cut of least cost within the limits (checked against every cut)', (t) => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + rand(8);
    const lens = Array.from({ length: n }, () => 1 + rand(60)).sort((a, b) => a - b);
    const rows = Array.from({ length: n }, () => 1 + rand(3));
    const limits: PartitionLimits = {
      rows: 2 + rand(8),
      tokens: 40 + rand(300),
      padding: [0.1, 0.3, 0.5, 1][rand(4)] as number,
      fixedTokens: rand(40),
      ...(rand(2) === 0 && { realTokens: 20 + rand(100) }),
    };
    const cut = partitionByLength(lens, rows, limits);
    t.true(valid(lens, rows, cut, limits), JSON.stringify({ lens, rows, limits, cut }));
    t.deepEqual(
      cut.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i)),
      lens.map((_, i) => i),
      'every item once, in order',
    );
    const best = Math.min(
      ...allCuts(n)
        .filter((c) => valid(lens, rows, c, limits))
        .map((c) => costOf(lens, rows, c, limits.fixedTokens)),
    );
    t.is(costOf(lens, rows, cut, limits.fixedTokens), best, JSON.stringify({ lens, rows, limits }));
  }
});

test('partitionByLength: a fixed cost worth more than the padding stacks; less than it splits', (t) => {
  const lens = [10, 10, 20, 20];
  const ones = [1, 1, 1, 1];
  t.deepEqual(partitionByLength(lens, ones, { ...LIMITS, fixedTokens: 30 }), [[0, 4]]);
  t.deepEqual(partitionByLength(lens, ones, { ...LIMITS, fixedTokens: 10 }), [
    [0, 2],
    [2, 4],
  ]);
  t.deepEqual(partitionByLength([], [], LIMITS), []);
  // An item larger than every limit still runs, alone.
  t.deepEqual(partitionByLength([5, 9000], [1, 1], LIMITS), [
    [0, 1],
    [1, 2],
  ]);
});

test('JobCostModel learns the fixed part of a job in tokens from (padded tokens, ms) samples', (t) => {
  const m = new JobCostModel();
  t.is(m.fixedTokens, DEFAULT_FIXED_TOKENS, 'the default before any job');
  // ms = 4 + 0.2 * tokens: the fixed part is worth 20 tokens.
  for (const x of [20, 40, 100, 220, 300, 60, 500, 30]) m.observe(x, 4 + 0.2 * x);
  t.true(Math.abs(m.fixedTokens - 20) < 1e-6, String(m.fixedTokens));
  t.is(m.samples, 8);
  // It follows a change (recent jobs weigh more).
  for (let i = 0; i < 200; i++) {
    const x = 20 + ((i * 37) % 300);
    m.observe(x, 10 + 0.1 * x);
  }
  t.true(Math.abs(m.fixedTokens - 100) < 1, String(m.fixedTokens));
});

test('JobCostModel ignores what says nothing and stays within its bounds', (t) => {
  const same = new JobCostModel();
  for (let i = 0; i < 20; i++) same.observe(100, 5 + (i % 3));
  t.is(same.fixedTokens, DEFAULT_FIXED_TOKENS, 'jobs of one size: no slope to learn');
  const bad = new JobCostModel();
  for (const [x, ms] of [
    [0, 1],
    [-5, 1],
    [10, Number.NaN],
    [10, -1],
    [10, Number.POSITIVE_INFINITY],
  ] as const)
    bad.observe(x, ms);
  t.is(bad.samples, 0);
  const flat = new JobCostModel();
  for (const x of [10, 50, 100, 400, 20, 300]) flat.observe(x, 50 + 1e-6 * x);
  t.is(flat.fixedTokens, MAX_FIXED_TOKENS, 'runs that barely grow with size: the cap');
  const shrinking = new JobCostModel();
  for (const x of [10, 50, 100, 400, 20, 300]) shrinking.observe(x, 100 - 0.1 * x);
  t.is(shrinking.fixedTokens, DEFAULT_FIXED_TOKENS, 'a negative slope is noise: kept as it was');
});

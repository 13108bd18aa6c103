import test from 'ava';
import { QueueFullError } from '../../ts/errors.js';
import { type PipelineOptions, pipeline, shutdownEngine } from '../../ts/index.js';
import { MODELS_DIR } from './engine-helpers.js';

test.after.always(() => shutdownEngine());

const model = (name: string) => `${MODELS_DIR}/${name}`;

/** Largest numeric difference between two JSON-like values; Infinity when their shapes differ. */
function distance(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return Number.POSITIVE_INFINITY;
    return a.reduce((m: number, x, i) => Math.max(m, distance(x, b[i])), 0);
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (ka.join() !== kb.join()) return Number.POSITIVE_INFINITY;
    return ka.reduce(
      (m, k) => Math.max(m, distance((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])),
      0,
    );
  }
  return a === b ? 0 : Number.POSITIVE_INFINITY;
}

const TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'Paris is the capital of France 🇫🇷 and a city of light.',
  'short',
  'A much longer sentence that goes on and on about nothing in particular, to make the padding matter.',
  'Émile went to Zürich with 3 friends.',
  'Tabs\tand  double  spaces.',
];

const CASES: Array<{ task: string; model: string; inputs: unknown[] }> = [
  { task: 'feature-extraction', model: 'st-encoder', inputs: TEXTS },
  { task: 'text-classification', model: 'bert-sentiment', inputs: TEXTS },
  { task: 'token-classification', model: 'bert-ner', inputs: TEXTS },
  { task: 'fill-mask', model: 'bert-mlm', inputs: TEXTS.map((t) => `${t} [MASK].`) },
  {
    task: 'zero-shot-classification',
    model: 'bert-nli',
    inputs: TEXTS.map((t) => ({ text: t, labels: ['travel', 'animals', 'food'] })),
  },
  {
    task: 'question-answering',
    model: 'bert-qa',
    inputs: TEXTS.map((t) => ({ question: 'Where did they go?', context: t })),
  },
];

async function outputs(task: string, name: string, inputs: unknown[], options: PipelineOptions) {
  const pipe = (await pipeline(task as never, model(name), options)) as unknown as {
    (x: unknown, p?: unknown): Promise<unknown>;
    dispose(): Promise<void>;
  };
  try {
    return await Promise.all(
      inputs.map((x) => {
        if (task === 'zero-shot-classification') {
          const { text, labels } = x as { text: string; labels: string[] };
          return pipe(text, { candidate_labels: labels });
        }
        return pipe(x);
      }),
    );
  } finally {
    await pipe.dispose();
  }
}

for (const c of CASES) {
  test(`${c.task}: concurrent calls through the pool and batcher equal inline unbatched calls`, async (t) => {
    const pooled = await outputs(c.task, c.model, c.inputs, { workers: 1, batching: { maxWaitMs: 20 } });
    const inline = await outputs(c.task, c.model, c.inputs, { workers: 0, batching: false });
    const d = distance(pooled, inline);
    t.true(d <= 1e-5, `max difference ${d}`);
  });
}

test('pipeline options reach the engine: a full queue answers ERR_QUEUE_FULL', async (t) => {
  const pipe = await pipeline('text-classification', model('bert-sentiment'), {
    workers: 1,
    batching: { maxQueue: 1 },
  });
  t.teardown(() => pipe.dispose());
  const settled = await Promise.allSettled(TEXTS.map((x) => pipe(x)));
  const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  t.true(rejected.length > 0);
  // Tokenization runs on the thread pool, so which call reaches the idle engine first (and
  // runs) is not fixed; one of them does.
  t.true(
    settled.some((s) => s.status === 'fulfilled'),
    'a call runs',
  );
  for (const r of rejected) {
    t.true(r.reason instanceof QueueFullError);
    t.is((r.reason as QueueFullError).code, 'ERR_QUEUE_FULL');
  }
});

test('bad engine options fail pipeline() with ERR_INVALID_ARGUMENT', async (t) => {
  for (const options of [{ workers: -1 }, { batching: { tokenBudget: 0 } }]) {
    const err = await t.throwsAsync(pipeline('text-classification', model('bert-sentiment'), options));
    t.is((err as { code?: string }).code, 'ERR_INVALID_ARGUMENT');
  }
});

/**
 * The generation engine: graph layouts, continuous batching that does not change results,
 * cancellation, the token budget and the queue limit.
 */
import path from 'node:path';
import test from 'ava';
import { HfTasksError, QueueFullError } from '../../ts/errors.js';
import { createGenerator, type Generator } from '../../ts/generation/engine.js';
import {
  endsInStop,
  type GenerationRequest,
  someTokenEndsStop,
  tokenCanEndStop,
} from '../../ts/generation/loop.js';
import { Tokenizer } from '../../ts/tokenizer.js';
import { modelDir } from '../tasks/goldens.js';

function onnx(name: string): string {
  return path.join(modelDir(name), 'model.onnx');
}

function request(
  tok: Tokenizer,
  prompt: string,
  maxNewTokens: number,
  extra: Partial<GenerationRequest> = {},
): GenerationRequest {
  const ids = Array.from(tok.encode(prompt).inputIds, Number);
  const eos = tok.specialTokens.eos_token_id ?? 0;
  return {
    promptIds: ids,
    decoding: { eosTokenIds: [eos], maxLength: ids.length + maxNewTokens },
    rows: 1,
    maxNewTokens,
    eosTokenIds: [eos],
    padTokenId: eos,
    stream: false,
    ...extra,
  };
}

test('layouts: GPT-2 multi-head and Llama grouped-query caches, position ids', async (t) => {
  const gpt2 = await createGenerator(onnx('gpt2-tiny'), { inline: true });
  const llama = await createGenerator(onnx('llama-tiny'), { inline: true });
  t.is(gpt2.layout.cache.length, 4);
  t.deepEqual(
    gpt2.layout.cache.map((c) => [c.heads, c.headDim]),
    [
      [4, 8],
      [4, 8],
      [4, 8],
      [4, 8],
    ],
  );
  t.is(gpt2.layout.contextLength, 64);
  t.deepEqual(
    llama.layout.cache.map((c) => c.heads),
    [2, 2, 2, 2],
  );
  t.is(llama.layout.positionIds, 'position_ids');
  t.is(llama.layout.cache[0]?.present, 'present.0.key');
  await gpt2.dispose();
  await llama.dispose();
});

const PROMPTS = [
  'Hello',
  'My name is Sarah and I live in',
  'Grüße aus Köln: ça va très bien.',
  'I ❤️ 🤗 emoji 🚀 and 日本語のテキスト',
];

async function alone(g: Generator, reqs: GenerationRequest[]): Promise<number[][]> {
  const out: number[][] = [];
  for (const r of reqs) out.push((await g.generate(r)).sequences[0]?.ids ?? []);
  return out;
}

for (const model of ['llama-tiny', 'qwen2-tiny', 'gpt2-tiny', 'opt-tiny']) {
  test(`${model}: concurrent requests share forward passes and give the unbatched results`, async (t) => {
    const g = await createGenerator(onnx(model), { inline: true });
    const tok = Tokenizer.fromFile(modelDir(model));
    const reqs = PROMPTS.map((p, i) => request(tok, p, 6 + 3 * i));
    const expected = await alone(g, reqs);
    t.is(g.stats()?.maxRowsPerStep, 1);
    // All at once, plus one that joins while the others run.
    const first = reqs.slice(0, 3).map((r) => g.generate(r));
    await new Promise((r) => setTimeout(r, 5));
    const late = g.generate(reqs[3] as GenerationRequest);
    const got = (await Promise.all([...first, late])).map((r) => r.sequences[0]?.ids ?? []);
    t.deepEqual(got, expected);
    t.true((g.stats()?.maxRowsPerStep ?? 0) > 1, 'rows of different requests ran in one step');
    t.is(g.stats()?.activeRows, 0);
    await g.dispose();
  });
}

test('beam search next to greedy requests gives its unbatched result', async (t) => {
  const g = await createGenerator(onnx('llama-tiny'), { inline: true });
  const tok = Tokenizer.fromFile(modelDir('llama-tiny'));
  const beam = request(tok, 'The Eiffel Tower', 8, {
    beam: { numBeams: 3, lengthPenalty: 1, earlyStopping: false, numReturnSequences: 2 },
  });
  const alone1 = await g.generate(beam);
  const [b] = await Promise.all([
    g.generate(beam),
    g.generate(request(tok, 'Hello', 10)),
    g.generate(request(tok, 'My name is Sarah and I live in', 5)),
  ]);
  // Same hypotheses; scores agree to float noise (padded rows sum in another order).
  t.deepEqual(
    b?.sequences.map((x) => [x.ids, x.finishReason]),
    alone1.sequences.map((x) => [x.ids, x.finishReason]),
  );
  b?.sequences.forEach((x, i) => {
    t.true(Math.abs((x.score ?? 0) - (alone1.sequences[i]?.score ?? 1)) < 1e-4);
  });
  t.is(b?.sequences.length, 2);
  await g.dispose();
});

test('an aborted request stops and frees its rows; the others finish unchanged', async (t) => {
  const g = await createGenerator(onnx('qwen2-tiny'), { inline: true });
  const tok = Tokenizer.fromFile(modelDir('qwen2-tiny'));
  const keep = request(tok, 'Hello', 12);
  const [expected] = await alone(g, [keep]);
  const controller = new AbortController();
  let seen = 0;
  const doomed = g.generate(request(tok, 'The Eiffel Tower', 100, { stream: true }), {
    signal: controller.signal,
    onToken: () => {
      seen++;
      if (seen === 2) controller.abort();
    },
  });
  const other = g.generate(keep);
  const err = await t.throwsAsync(doomed, { instanceOf: HfTasksError });
  t.is(err?.code, 'ERR_ABORTED');
  t.true(seen < 10);
  t.deepEqual((await other).sequences[0]?.ids, expected);
  t.is(g.stats()?.activeRows, 0);
  await g.dispose();
});

test('the token budget queues requests past it; the queue limit rejects with ERR_QUEUE_FULL', async (t) => {
  const g = await createGenerator(onnx('llama-tiny'), { inline: true, maxBatchTokens: 30, maxQueued: 2 });
  const tok = Tokenizer.fromFile(modelDir('llama-tiny'));
  const a = g.generate(request(tok, 'Hello', 20));
  const b = g.generate(request(tok, 'Hello there', 20));
  const c = g.generate(request(tok, 'The Eiffel Tower', 20));
  await t.throwsAsync(c, { instanceOf: QueueFullError });
  const [ra, rb] = await Promise.all([a, b]);
  t.is(ra.sequences[0]?.ids.length, 20);
  t.is(rb.sequences[0]?.ids.length, 20);
  t.is(g.stats()?.maxRowsPerStep, 1, 'the budget kept the two requests apart');
  await g.dispose();
});

test('a dedicated worker: same results, token events cross the thread, a crash-free dispose', async (t) => {
  const worker = await createGenerator(onnx('gpt2-tiny'));
  const inline = await createGenerator(onnx('gpt2-tiny'), { inline: true });
  const tok = Tokenizer.fromFile(modelDir('gpt2-tiny'));
  const reqs = PROMPTS.map((p) => request(tok, p, 8, { stream: true }));
  const events: number[] = [];
  const a = await Promise.all(reqs.map((r) => worker.generate(r, { onToken: (e) => events.push(e.id) })));
  const b = await Promise.all(reqs.map((r) => inline.generate(r)));
  // Same tokens; logprobs agree to float noise (the worker's session runs more threads).
  t.deepEqual(
    a.map((r) => r.sequences.map((s) => [s.ids, s.finishReason])),
    b.map((r) => r.sequences.map((s) => [s.ids, s.finishReason])),
  );
  a.forEach((r, i) => {
    r.sequences[0]?.logprobs.forEach((lp, j) => {
      t.true(Math.abs(lp - (b[i]?.sequences[0]?.logprobs[j] ?? Number.NaN)) < 1e-4);
    });
  });
  t.is(events.length, 32);
  t.is(worker.mode, 'worker');
  await worker.dispose();
  await t.throwsAsync(worker.generate(reqs[0] as GenerationRequest), { instanceOf: HfTasksError });
  await inline.dispose();
});

test('in a worker: an abort crosses the thread (ERR_ABORTED) and the queue limit is ERR_QUEUE_FULL', async (t) => {
  const g = await createGenerator(onnx('qwen2-tiny'), { maxQueued: 1, maxBatchTokens: 40 });
  const tok = Tokenizer.fromFile(modelDir('qwen2-tiny'));
  const controller = new AbortController();
  let seen = 0;
  // Long enough that the cancel message reaches the worker before the sequence ends.
  const doomed = g.generate(request(tok, 'Hello', 5000, { stream: true }), {
    signal: controller.signal,
    onToken: () => {
      seen++;
      if (seen === 2) controller.abort();
    },
  });
  const err = await t.throwsAsync(doomed, { instanceOf: HfTasksError });
  t.is(err?.code, 'ERR_ABORTED');
  t.true(seen < 5000);
  const first = g.generate(request(tok, 'Hello', 30));
  const second = g.generate(request(tok, 'Hello there', 30));
  const third = g.generate(request(tok, 'The Eiffel Tower', 30));
  const settled = await Promise.allSettled([first, second, third]);
  const full = settled.filter((s) => s.status === 'rejected' && s.reason instanceof QueueFullError);
  t.true(full.length >= 1);
  t.is((settled[0] as PromiseFulfilledResult<{ sequences: unknown[] }>).value.sequences.length, 1);
  await g.dispose();
});

for (const [model, options] of [
  ['gemma-tiny', {}],
  ['llama-tiny', { batching: false }],
] as const) {
  test(`${model} ${JSON.stringify(options)}: requests decode in batches of their own, same results`, async (t) => {
    const g = await createGenerator(onnx(model), { inline: true, ...options });
    const tok = Tokenizer.fromFile(modelDir(model));
    const reqs = PROMPTS.map((p, i) => request(tok, p, 5 + 2 * i));
    const expected = await alone(g, reqs);
    const got = (await Promise.all(reqs.map((r) => g.generate(r)))).map((r) => r.sequences[0]?.ids ?? []);
    t.deepEqual(got, expected);
    t.is(g.stats()?.maxRowsPerStep, 1);
    t.is(g.layout.positionIds === null, model === 'gemma-tiny');
    await g.dispose();
  });
}

test('stop strings: which token strings can end them, and where a match ends', (t) => {
  t.true(tokenCanEndStop('hello', ['lo']), 'inside the token');
  t.true(tokenCanEndStop('loop', ['lo']), 'ends inside the token, more after it');
  t.true(tokenCanEndStop(' w', ['x w']), "the token is the stop string's end");
  t.true(tokenCanEndStop(' wor', ['x w']), "a leading part of the token is the stop string's end");
  t.true(tokenCanEndStop('wx', ['x w']), 'its first character ends the stop string');
  t.false(tokenCanEndStop('xz', ['x w']));
  t.false(tokenCanEndStop('\ufffd', ['\u04fd']), 'a partial character never matches');
  t.false(tokenCanEndStop('', ['a']));
  t.false(tokenCanEndStop('abc', ['']));
  t.true(endsInStop('say hello', 2, ['llo']));
  t.false(endsInStop('say hello there', 2, ['llo']), 'the match must end in the last piece');
});

test('the vocabulary is read in slices between turns of the event loop', async (t) => {
  const pieces = Array.from({ length: 1000 }, (_, i) => (i === 950 ? 'zq' : `t${i}`));
  let turns = 0;
  const tick = setInterval(() => turns++, 0);
  const seen: number[] = [];
  const pieceOf = (id: number) => {
    seen.push(id);
    return pieces[id] as string;
  };
  try {
    t.true(await someTokenEndsStop(pieceOf, pieces.length, ['q'], 0, 100));
    t.is(seen.at(-1), 950, 'stops at the first token that can end it');
    t.false(await someTokenEndsStop(pieceOf, pieces.length, ['\u04fd'], 0, 100));
    t.true(turns >= 2, `the event loop turned between slices (${turns} timer callbacks)`);
  } finally {
    clearInterval(tick);
  }
});

/**
 * text-generation parity with transformers 4.57.3's pipeline on the same ONNX files
 * (test/fixtures/goldens/text-generation.json, made by scripts/fixtures/make_generation_goldens.py):
 * greedy and beam search token-exact, texts exact, logprobs within 1e-4, the reference's error
 * messages; plus streaming, cancellation, sampling determinism and the library's own limits.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { HfTasksError, InvalidInputError, type Pipe, pipeline, Tokenizer } from '../../ts/index.js';
import type { TextGenerationOutput, TextGenerationStreamEvent } from '../../ts/types/text-generation.js';
import { fixtures, modelDir } from './goldens.js';

interface Case {
  model: string;
  inputs: unknown;
  parameters: Record<string, unknown>;
  output?: unknown;
  prompt_ids?: number[];
  generated_ids?: number[][];
  logprobs?: number[];
  items?: Case[];
  error?: { type: string; message: string };
}

interface Goldens {
  cases: Case[];
  chats: Case[];
  lists: Case[];
  errors: Case[];
  case_errors: Case[];
  accepted: Case[];
}

const goldens = JSON.parse(
  readFileSync(path.join(fixtures, 'goldens', 'text-generation.json'), 'utf8'),
) as Goldens;

const pipes = new Map<string, Promise<Pipe<'text-generation'>>>();
function pipeFor(name: string): Promise<Pipe<'text-generation'>> {
  let p = pipes.get(name);
  if (p === undefined) {
    p = pipeline('text-generation', modelDir(name), { workers: 0 });
    pipes.set(name, p);
  }
  return p;
}
test.after.always(async () => {
  for (const p of pipes.values()) await (await p).dispose();
});

/** The reference's call kwargs as this library's parameters. */
function toParameters(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    if (v === null) continue; // max_new_tokens=None: the legacy total length applies
    if (k === 'stop_strings') out.stop = v;
    else out[k] = v;
  }
  return out;
}

/** Generated ids up to and including the first EOS/stop id (beam outputs are padded after it). */
function trimPadding(ids: number[], actualLength: number): number[] {
  return ids.slice(0, actualLength);
}

function label(c: Case): string {
  return `${c.model} ${JSON.stringify(c.inputs).slice(0, 40)} ${JSON.stringify(c.parameters)}`;
}

async function checkCase(t: import('ava').ExecutionContext, c: Case): Promise<void> {
  const pipe = await pipeFor(c.model);
  const params = toParameters(c.parameters);
  const out = (await pipe(c.inputs as never, { ...params, details: true } as never)) as TextGenerationOutput;
  const expected = c.output as Array<{ generated_text: unknown }>;
  t.is(out.length, expected.length, label(c));
  out.forEach((item, i) => {
    t.deepEqual(item.generated_text, expected[i]?.generated_text, `${label(c)} text ${i}`);
    const ids = item.details?.tokens.map((tk) => tk.id) ?? [];
    const want = c.generated_ids?.[i] ?? [];
    t.deepEqual(ids, trimPadding(want, ids.length), `${label(c)} ids ${i}`);
    t.true(
      want.slice(ids.length).every((x) => x === want[want.length - 1]),
      `${label(c)} padding ${i}`,
    );
    if (c.logprobs !== undefined && i === 0) {
      const lp = item.details?.tokens.map((tk) => tk.logprob) ?? [];
      lp.forEach((v, j) => {
        t.true(
          Math.abs((v ?? Number.NaN) - (c.logprobs?.[j] ?? Number.NaN)) < 1e-4,
          `${label(c)} logprob ${j}`,
        );
      });
    }
  });
  // Without details the text is the same.
  const plain = (await pipe(c.inputs as never, params as never)) as TextGenerationOutput;
  t.deepEqual(
    plain.map((x) => x.generated_text),
    expected.map((x) => x.generated_text),
  );
}

for (const model of ['gpt2-tiny', 'opt-tiny', 'gemma-tiny', 'llama-tiny', 'qwen2-tiny']) {
  test(`${model}: greedy and beam goldens (texts, ids, logprobs)`, async (t) => {
    const cases = goldens.cases.filter((c) => c.model === model);
    t.true(cases.length > 50);
    for (const c of cases) await checkCase(t, c);
  });

  test(`${model}: chat goldens`, async (t) => {
    const cases = goldens.chats.filter((c) => c.model === model);
    if (model === 'gpt2-tiny' || model === 'opt-tiny') {
      t.is(cases.length, 0);
      return;
    }
    t.true(cases.length >= 8);
    for (const c of cases) await checkCase(t, c);
  });

  test(`${model}: a list of prompts gives one list per prompt, as the reference`, async (t) => {
    const pipe = await pipeFor(model);
    for (const c of goldens.lists.filter((x) => x.model === model)) {
      const out = await pipe(c.inputs as never, toParameters(c.parameters) as never);
      t.deepEqual(out, c.output as never);
    }
  });

  test(`${model}: the reference's errors for bad parameters and chats`, async (t) => {
    const pipe = await pipeFor(model);
    const errors = [...goldens.errors, ...goldens.case_errors].filter((x) => x.model === model);
    t.true(errors.length >= 10);
    for (const c of errors) {
      const params = toParameters(c.parameters);
      if ('return_tensors' in params) {
        // not a parameter here: still a 400
        await t.throwsAsync(pipe(c.inputs as never, params as never), { instanceOf: InvalidInputError });
        continue;
      }
      if (c.parameters.repetition_penalty === 2) continue; // JSON cannot tell 2 from 2.0 (README)
      const err = await t.throwsAsync(pipe(c.inputs as never, params as never), {
        instanceOf: InvalidInputError,
      });
      const want = c.error?.message ?? '';
      if (c.error?.type === 'TemplateError')
        t.true(err?.message.includes(want), `${label(c)}: ${err?.message}`);
      else t.is(err?.message, want, label(c));
    }
  });
}

test('top_p and typical_p outside (0, 1] and a bad temperature are 400s (TGI ranges)', async (t) => {
  const pipe = await pipeFor('gpt2-tiny');
  for (const bad of [{ top_p: 0 }, { top_p: 1.5 }, { typical_p: 1.5 }, { temperature: 0 }, { top_k: -1 }]) {
    await t.throwsAsync(pipe('Hello', { do_sample: true, max_new_tokens: 2, ...bad }), {
      instanceOf: InvalidInputError,
    });
  }
});

test('streaming: token events concatenate to the new text, then an end event per sequence', async (t) => {
  const pipe = await pipeFor('llama-tiny');
  const events: TextGenerationStreamEvent[] = [];
  for await (const e of pipe.stream('Grüße aus Köln', { max_new_tokens: 12, do_sample: false }))
    events.push(e);
  const tokens = events.filter((e) => e.type === 'token');
  const end = events.at(-1);
  t.is(end?.type, 'end');
  if (end?.type !== 'end') return;
  t.is(tokens.length, end.generated_tokens);
  t.is(tokens.map((e) => (e.type === 'token' ? e.token.text : '')).join(''), end.generated_text);
  const [full] = await pipe('Grüße aus Köln', {
    max_new_tokens: 12,
    do_sample: false,
    return_full_text: false,
  });
  t.is(full?.generated_text, end.generated_text);
});

test('leaving a stream early cancels the generation', async (t) => {
  const pipe = await pipeFor('qwen2-tiny');
  let n = 0;
  for await (const e of pipe.stream('Hello', { max_new_tokens: 200, do_sample: false })) {
    if (e.type === 'token') n++;
    if (n === 3) break;
  }
  t.is(n, 3);
  // the engine is free again
  const [out] = await pipe('Hello', { max_new_tokens: 2, do_sample: false, details: true });
  t.is(out?.details?.generated_tokens, 2);
});

test('an AbortSignal rejects the call with ERR_ABORTED', async (t) => {
  const pipe = await pipeFor('qwen2-tiny');
  const controller = new AbortController();
  const call = pipe(
    'Hello',
    { max_new_tokens: 200, do_sample: false },
    {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'token') controller.abort();
      },
    },
  );
  const err = await t.throwsAsync(call, { instanceOf: HfTasksError });
  t.is(err?.code, 'ERR_ABORTED');
});

test('sampling with a seed is reproducible; different seeds differ; details report the seed', async (t) => {
  const pipe = await pipeFor('llama-tiny');
  const params = { do_sample: true, temperature: 1.5, max_new_tokens: 16, seed: 7, details: true };
  const a = await pipe('Hello', params);
  const b = await pipe('Hello', params);
  // Same draws (logprobs may differ in the last float bits when other tests' rows share a step).
  const tokens = (o: TextGenerationOutput) =>
    o.map((x) => [x.generated_text, x.details?.tokens.map((tk) => tk.id)]);
  t.deepEqual(tokens(a), tokens(b));
  t.is(a[0]?.details?.seed, 7);
  const outs = new Set<string>();
  for (let seed = 0; seed < 6; seed++) {
    const [o] = await pipe('Hello', { ...params, seed });
    outs.add(String(o?.generated_text));
  }
  t.true(outs.size > 1);
  const many = await pipe('Hello', { ...params, num_return_sequences: 3 });
  t.is(many.length, 3);
});

test('stop strings end the text with the stop string; finish_reason stop_sequence', async (t) => {
  const pipe = await pipeFor('qwen2-tiny');
  const [base] = await pipe('The Eiffel Tower', {
    max_new_tokens: 20,
    return_full_text: false,
    do_sample: false,
  });
  const text = String(base?.generated_text);
  const stop = text.slice(6, 9);
  const [out] = await pipe('The Eiffel Tower', {
    max_new_tokens: 20,
    return_full_text: false,
    do_sample: false,
    stop: [stop],
    details: true,
  });
  const got = String(out?.generated_text);
  t.true(got.includes(stop));
  t.true(got.length < text.length);
  t.is(out?.details?.finish_reason, 'stop_sequence');
});

test('defaults: greedy with 256 new tokens, cut at the context; prompt over the context is a 400', async (t) => {
  const pipe = await pipeFor('gpt2-tiny');
  // gpt2-tiny holds 64 positions; its task_specific_params ask for sampling (do_sample: true),
  // which may draw EOS early: greedy (deterministic) runs to the end of the position table.
  const [out] = await pipe('Hello', { details: true, do_sample: false });
  t.is(out?.details?.finish_reason, 'length');
  const promptLength = Tokenizer.fromFile(modelDir('gpt2-tiny')).encode('Hello').inputIds.length;
  t.is(out?.details?.generated_tokens, 64 - promptLength);
  const [sampled] = await pipe('Hello', { details: true, seed: 3 });
  t.true(['length', 'eos_token'].includes(String(sampled?.details?.finish_reason)));
  t.true((sampled?.details?.generated_tokens ?? 0) <= 64 - promptLength);
  const long = 'word '.repeat(100);
  await t.throwsAsync(pipe(long, { max_new_tokens: 2 }), {
    instanceOf: InvalidInputError,
    message: /positions/,
  });
});

test('max_new_tokens over the configured cap is a 400', async (t) => {
  const pipe = await pipeline('text-generation', modelDir('llama-tiny'), {
    workers: 0,
    generation: { maxNewTokensLimit: 10 },
  });
  await t.throwsAsync(pipe('Hello', { max_new_tokens: 11 }), {
    instanceOf: InvalidInputError,
    message: /at most 10/,
  });
  const [ok] = await pipe('Hello', { max_new_tokens: 10, do_sample: false, details: true });
  t.is(ok?.details?.generated_tokens, 10);
  await pipe.dispose();
});

test('worker mode (default) gives the inline results', async (t) => {
  const worker = await pipeline('text-generation', modelDir('llama-tiny'));
  const inline = await pipeFor('llama-tiny');
  const params = { max_new_tokens: 12, do_sample: false, details: true };
  const prompts = ['Hello', 'My name is Sarah', 'The Eiffel Tower'];
  const a = await Promise.all(prompts.map((p) => worker(p, params)));
  const b = await Promise.all(prompts.map((p) => inline(p, params)));
  const ids = (o: TextGenerationOutput[]) =>
    o.map((x) => x.map((y) => [y.generated_text, y.details?.tokens.map((tk) => tk.id)]));
  t.deepEqual(ids(a), ids(b));
  const events: TextGenerationStreamEvent[] = [];
  for await (const e of worker.stream('Hello', { max_new_tokens: 4, do_sample: false })) events.push(e);
  t.is(events.filter((e) => e.type === 'token').length, 4);
  await worker.dispose();
});

test('malformed inputs are 400s', async (t) => {
  const pipe = await pipeFor('llama-tiny');
  for (const bad of [42, [], [{ role: 'user', content: 3 }], [1, 2], { text: 'x' }]) {
    await t.throwsAsync(pipe(bad as never), { instanceOf: InvalidInputError });
  }
  await t.throwsAsync(pipe('Hello', { nonsense: 1 } as never), { instanceOf: InvalidInputError });
  await t.throwsAsync(pipe('Hello', { max_new_tokens: 'x' } as never), { instanceOf: InvalidInputError });
});

test('the merged-decoder layout (onnx/decoder_model_merged.onnx, use_cache_branch) gives the same goldens', async (t) => {
  const pipe = await pipeline('text-generation', modelDir('llama-tiny-merged'), { workers: 0 });
  const cases = goldens.cases.filter(
    (c) =>
      c.model === 'llama-tiny' &&
      (JSON.stringify(c.parameters) === JSON.stringify({ do_sample: false, max_new_tokens: 20 }) ||
        c.parameters.num_beams === 3),
  );
  t.true(cases.length >= 10);
  for (const c of cases) {
    const out = await pipe(c.inputs as never, { ...toParameters(c.parameters), details: true } as never);
    t.deepEqual(
      out.map((x) => x.generated_text),
      (c.output as Array<{ generated_text: unknown }>).map((x) => x.generated_text),
      label(c),
    );
  }
  await pipe.dispose();
});

test('max_time stops a long generation with finish_reason length', async (t) => {
  const pipe = await pipeFor('qwen2-tiny');
  const [out] = await pipe('Hello', {
    max_new_tokens: 200,
    max_time: 0.001,
    details: true,
    do_sample: false,
  });
  t.is(out?.details?.finish_reason, 'length');
  t.true((out?.details?.generated_tokens ?? 200) < 200);
});

test('TGI truncate keeps the last prompt tokens; unsupported TGI options are 400s', async (t) => {
  const pipe = await pipeFor('gpt2-tiny');
  const long = 'word '.repeat(100);
  const [out] = await pipe(long, { truncate: 10, max_new_tokens: 3, details: true, do_sample: false });
  t.is(out?.details?.generated_tokens, 3);
  // Without truncate the same prompt is over gpt2-tiny's 64 positions.
  await t.throwsAsync(pipe(long, { max_new_tokens: 3 }), { instanceOf: InvalidInputError });
  // The model sees the kept tail: the same continuation as those 10 tokens on their own.
  const tok = Tokenizer.fromFile(modelDir('gpt2-tiny'));
  const ids = Array.from(tok.encode(long).inputIds, Number);
  const tailText = tok.decode(ids.slice(-10));
  t.deepEqual(Array.from(tok.encode(tailText).inputIds, Number), ids.slice(-10));
  const [alone] = await pipe(tailText, { max_new_tokens: 3, details: true, do_sample: false });
  t.deepEqual(
    out?.details?.tokens.map((x) => x.id),
    alone?.details?.tokens.map((x) => x.id),
  );
  for (const bad of [
    { best_of: 2 },
    { watermark: true },
    { top_n_tokens: 3 },
    { decoder_input_details: true },
  ]) {
    await t.throwsAsync(pipe('Hello', { max_new_tokens: 2, ...bad } as never), {
      instanceOf: InvalidInputError,
    });
  }
  await t.notThrowsAsync(pipe('Hello', { max_new_tokens: 2, best_of: 1, watermark: false } as never));
});

test('sampling with top_k 1 (or a tiny temperature) picks the greedy tokens', async (t) => {
  const pipe = await pipeFor('qwen2-tiny');
  const greedy = await pipe('The Eiffel Tower', { max_new_tokens: 12, do_sample: false, details: true });
  const ids = (o: TextGenerationOutput) => o[0]?.details?.tokens.map((x) => x.id);
  for (const extra of [{ top_k: 1 }, { temperature: 1e-4 }]) {
    const sampled = await pipe('The Eiffel Tower', {
      max_new_tokens: 12,
      do_sample: true,
      seed: 3,
      details: true,
      ...extra,
    });
    t.deepEqual(ids(sampled), ids(greedy), JSON.stringify(extra));
  }
});

test('a plain ModelRunner from createRunner gets an inline decode loop with the same results', async (t) => {
  const { createSessionRunner } = await import('../../ts/runtime/session.js');
  const pipe = await pipeline('text-generation', modelDir('llama-tiny'), {
    createRunner: (onnxPath) => createSessionRunner(onnxPath),
  });
  const params = { max_new_tokens: 10, do_sample: false, details: true };
  const [a] = await pipe('The Eiffel Tower', params);
  const [b] = await (await pipeFor('llama-tiny'))('The Eiffel Tower', params);
  t.deepEqual(
    a?.details?.tokens.map((x) => x.id),
    b?.details?.tokens.map((x) => x.id),
  );
  t.is(a?.generated_text, b?.generated_text);
  await pipe.dispose();
});

test('beam sampling (do_sample with num_beams) is seeded and reproducible', async (t) => {
  const pipe = await pipeFor('llama-tiny');
  const params = {
    do_sample: true,
    num_beams: 3,
    num_return_sequences: 2,
    max_new_tokens: 8,
    seed: 11,
    temperature: 1.5,
    details: true,
  };
  const a = await pipe('The Eiffel Tower', params);
  const b = await pipe('The Eiffel Tower', params);
  t.is(a.length, 2);
  t.deepEqual(
    a.map((x) => x.details?.tokens.map((tk) => tk.id)),
    b.map((x) => x.details?.tokens.map((tk) => tk.id)),
  );
  t.true(a.every((x) => typeof x.details?.sequence_score === 'number'));
});

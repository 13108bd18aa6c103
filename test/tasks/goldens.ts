/**
 * Shared helpers for golden parity tests: load test/fixtures/goldens/<task>.json, open one pipe
 * per fixture model, and compare outputs (labels, words, offsets, order and shape exact; scores
 * within a tolerance).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { HfTasksError, type Pipe, type PipelineOptions, pipeline } from '../../ts/index.js';
import type { TaskId } from '../../ts/types/tasks.js';

export const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const modelDir = (name: string): string => path.join(fixtures, 'models', name);

export interface GoldenCase {
  id: string;
  model: string;
  inputs: unknown;
  parameters?: Record<string, unknown>;
  pipeline_kwargs?: Record<string, unknown>;
  output?: unknown;
  error?: { type: string; message: string };
}

export interface GoldenFile {
  task: string;
  reference?: Record<string, unknown>;
  cases: GoldenCase[];
}

export function loadGoldens(task: string): GoldenFile {
  return JSON.parse(readFileSync(path.join(fixtures, 'goldens', `${task}.json`), 'utf8')) as GoldenFile;
}

/** Keys whose numbers are integers that must match exactly. */
const EXACT_NUMBER_KEYS = new Set(['start', 'end', 'index', 'token']);

/**
 * Compares `actual` to `expected` recursively; returns the first difference as a path and
 * message, or null. Numbers under `score`/`scores` (and any non-exact key) match within `tol`.
 */
export function diff(actual: unknown, expected: unknown, tol: number, at = '$', key = ''): string | null {
  if (typeof expected === 'number') {
    if (typeof actual !== 'number')
      return `${at}: expected number ${expected}, got ${JSON.stringify(actual)}`;
    if (EXACT_NUMBER_KEYS.has(key))
      return actual === expected ? null : `${at}: expected ${expected}, got ${actual}`;
    return Math.abs(actual - expected) <= tol ? null : `${at}: expected ${expected} ±${tol}, got ${actual}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${at}: expected an array, got ${JSON.stringify(actual)}`;
    if (actual.length !== expected.length) {
      return `${at}: expected ${expected.length} items, got ${actual.length}: ${JSON.stringify(actual)}`;
    }
    for (let i = 0; i < expected.length; i++) {
      const d = diff(actual[i], expected[i], tol, `${at}[${i}]`, key);
      if (d) return d;
    }
    return null;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      return `${at}: expected an object, got ${JSON.stringify(actual)}`;
    }
    const ek = Object.keys(expected).sort();
    const ak = Object.keys(actual).sort();
    if (ek.join() !== ak.join()) return `${at}: expected keys ${ek.join(',')}, got ${ak.join(',')}`;
    for (const k of ek) {
      const d = diff(
        (actual as Record<string, unknown>)[k],
        (expected as Record<string, unknown>)[k],
        tol,
        `${at}.${k}`,
        k,
      );
      if (d) return d;
    }
    return null;
  }
  return Object.is(actual, expected)
    ? null
    : `${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

/** Asserts that `actual` matches the golden `expected` within `tol`. */
export function assertGolden(t: ExecutionContext, actual: unknown, expected: unknown, tol = 1e-4): void {
  const d = diff(actual, expected, tol);
  t.is(d, null, d ?? '');
}

/** One pipe per fixture model, opened lazily and shared by the cases of a test file. */
export class PipeCache<T extends TaskId> {
  readonly #pipes = new Map<string, Promise<Pipe<T>>>();

  constructor(
    readonly task: T,
    readonly options: PipelineOptions = {},
  ) {}

  get(model: string): Promise<Pipe<T>> {
    let p = this.#pipes.get(model);
    if (p === undefined) {
      p = pipeline(this.task, modelDir(model), this.options) as unknown as Promise<Pipe<T>>;
      this.#pipes.set(model, p);
    }
    return p;
  }

  async dispose(): Promise<void> {
    for (const p of this.#pipes.values()) await (await p).dispose();
    this.#pipes.clear();
  }
}

/**
 * How a reference exception maps onto our typed error: ValueError / TypeError / IndexError /
 * PipelineException keep their message (HTTP 400); a KeyError from an enum lookup becomes an
 * `InvalidParameterError` listing the valid values; the network failing on a sequence longer
 * than its position table becomes an up-front "too long" 400.
 */
export function expectedError(error: { type: string; message: string }): {
  code: string;
  message: string | RegExp;
} {
  switch (error.type) {
    case 'KeyError':
      return { code: 'ERR_INVALID_PARAMETER', message: /must be one of/ };
    case 'RuntimeException':
    case 'InvalidArgument':
      return {
        code: 'ERR_INVALID_INPUT',
        message: /^Input is too long: \d+ tokens, but this model accepts at most \d+/,
      };
    default:
      return { code: 'ERR_INVALID_INPUT', message: error.message };
  }
}

/** Runs every golden case of a task file as one ava test each. */
export function goldenTests<T extends TaskId>(
  test: (title: string, fn: (t: ExecutionContext) => Promise<void>) => void,
  task: T,
  pipes: PipeCache<T>,
  tol = 1e-4,
): number {
  const file = loadGoldens(task);
  for (const c of file.cases) {
    test(`golden ${c.id}`, async (t) => {
      const pipe = (await pipes.get(c.model)) as unknown as (i: unknown, p?: unknown) => Promise<unknown>;
      if (c.error !== undefined) {
        const want = expectedError(c.error);
        const err = await t.throwsAsync(pipe(c.inputs, c.parameters));
        t.true(err instanceof HfTasksError, `expected a typed error, got ${String(err)}`);
        t.is((err as HfTasksError).code, want.code);
        if (typeof want.message === 'string') t.is(err?.message, want.message);
        else t.regex(err?.message ?? '', want.message);
        return;
      }
      assertGolden(t, await pipe(c.inputs, c.parameters), c.output, tol);
    });
  }
  return file.cases.length;
}

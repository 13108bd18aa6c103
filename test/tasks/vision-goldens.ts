/**
 * Shared by the vision task tests: the reference goldens of scripts/fixtures/make_vision_goldens.py
 * and the comparison of one output against its golden (labels, boxes and order exact, scores
 * within 1e-4, masks compared as decoded pixels).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from '../../ts/index.js';
import { decodeImage } from '../../ts/native.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.join(here, '..', 'fixtures');
export const IMAGES = path.join(FIXTURES, 'images');
export const MODELS = path.join(FIXTURES, 'models');

export interface VisionCase {
  task: 'image-classification' | 'object-detection' | 'image-segmentation';
  model: string;
  image: string;
  parameters: Record<string, unknown>;
  output?: Record<string, unknown>[];
  error?: { type: string; message: string };
}

export interface VisionGoldens {
  images: string[];
  cases: VisionCase[];
}

/** A goldens file of test/fixtures/goldens in the vision case format. */
export function readGoldens(file: string): VisionGoldens {
  return JSON.parse(readFileSync(path.join(FIXTURES, 'goldens', file), 'utf8')) as VisionGoldens;
}

export const GOLDENS = readGoldens('vision.json');

export const isJpeg = (name: string) => name.endsWith('.jpg');
/** The reference's own decode of a JPEG of the corpus, saved as PNG. */
export const refOf = (name: string) => name.replace(/\.jpg$/, '.ref.png');

export type VisionPipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & {
  dispose(): Promise<void>;
};

/** Inline pipelines per (task, model) of test/fixtures/models, each opened once. */
export function pipeCache(): {
  pipeFor(task: string, model: string): Promise<VisionPipe>;
  disposeAll(): Promise<void>;
} {
  const pipes = new Map<string, Promise<VisionPipe>>();
  return {
    pipeFor(task, model) {
      const key = `${task}|${model}`;
      let p = pipes.get(key);
      if (p === undefined) {
        p = pipeline(task as 'image-classification', path.join(MODELS, model), {
          workers: 0,
        }) as unknown as Promise<VisionPipe>;
        pipes.set(key, p);
      }
      return p;
    },
    async disposeAll() {
      for (const p of pipes.values()) await (await p).dispose();
    },
  };
}

/** What running a list of golden cases found. */
export interface GoldenRun {
  /** One line per case that differs (or fails where the reference answered, or the reverse). */
  failures: string[];
  /** Outputs compared (the reference's errors not counted). */
  checked: number;
  maxScoreDelta: number;
  /** Mask pixels that differ, over every compared segment. */
  maskPixelsOff: number;
  /** Items (labels, detections, segments) in the compared goldens. */
  items: number;
}

/**
 * Runs every case (a JPEG through the reference's own decode of it) and compares the output with
 * its golden; where the reference raised, the call must fail with a typed error. `tolerated`
 * names the differences a test accepts (and counts apart).
 */
export async function runGoldens(
  cases: readonly VisionCase[],
  pipeFor: (task: string, model: string) => Promise<VisionPipe>,
  tolerated: (kase: VisionCase, problem: string) => boolean = () => false,
): Promise<GoldenRun> {
  const run: GoldenRun = { failures: [], checked: 0, maxScoreDelta: 0, maskPixelsOff: 0, items: 0 };
  for (const kase of cases) {
    const pipe = await pipeFor(kase.task, kase.model);
    const file = isJpeg(kase.image) ? refOf(kase.image) : kase.image;
    const where = `${kase.model} ${kase.image} ${JSON.stringify(kase.parameters)}`;
    let got: unknown;
    try {
      got = await pipe(readFileSync(path.join(IMAGES, file)), kase.parameters);
    } catch (err) {
      if (kase.error === undefined) run.failures.push(`${where}: threw ${(err as Error).message}`);
      else if ((err as { code?: string }).code === undefined) run.failures.push(`${where}: untyped error`);
      continue;
    }
    if (kase.error !== undefined) {
      run.failures.push(`${where}: expected ${kase.error.type}: ${kase.error.message}`);
      continue;
    }
    const r = await compare(kase, got);
    run.maxScoreDelta = Math.max(run.maxScoreDelta, r.maxScoreDelta);
    run.maskPixelsOff += r.maskPixelsOff;
    const problems = r.problems.filter((p) => !tolerated(kase, p));
    if (problems.length > 0) run.failures.push(`${where}: ${problems.slice(0, 3).join('; ')}`);
    run.checked++;
    run.items += (kase.output ?? []).length;
  }
  return run;
}

export const SCORE_TOLERANCE = 1e-4;

/** The gray values of a base64 mask PNG. */
export async function maskPixels(b64: string): Promise<{ width: number; height: number; gray: Uint8Array }> {
  const img = await decodeImage(Buffer.from(b64, 'base64'));
  const gray = new Uint8Array(img.width * img.height);
  for (let i = 0; i < gray.length; i++) gray[i] = img.data[i * 3] as number;
  return { width: img.width, height: img.height, gray };
}

/** Differences between an output and its golden, as readable lines (empty when equal). */
export async function compare(
  kase: VisionCase,
  got: unknown,
): Promise<{ problems: string[]; maxScoreDelta: number; maskPixelsOff: number }> {
  const problems: string[] = [];
  let maxScoreDelta = 0;
  let maskPixelsOff = 0;
  const want = kase.output ?? [];
  if (!Array.isArray(got)) return { problems: ['output is not a list'], maxScoreDelta, maskPixelsOff };
  if (got.length !== want.length) problems.push(`length ${got.length} != ${want.length}`);
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const g = got[i] as Record<string, unknown>;
    const w = want[i] as Record<string, unknown>;
    if (g.label !== w.label) problems.push(`[${i}] label ${String(g.label)} != ${String(w.label)}`);
    if (w.score === null) {
      if (g.score !== null) problems.push(`[${i}] score ${String(g.score)} != null`);
    } else {
      const d = Math.abs((g.score as number) - (w.score as number));
      maxScoreDelta = Math.max(maxScoreDelta, d);
      if (!(d <= SCORE_TOLERANCE)) problems.push(`[${i}] score ${String(g.score)} != ${String(w.score)}`);
    }
    if (w.box !== undefined && JSON.stringify(g.box) !== JSON.stringify(w.box)) {
      problems.push(`[${i}] box ${JSON.stringify(g.box)} != ${JSON.stringify(w.box)}`);
    }
    if (typeof w.mask === 'string') {
      const a = await maskPixels(g.mask as string);
      const b = await maskPixels(w.mask);
      if (a.width !== b.width || a.height !== b.height) {
        problems.push(`[${i}] mask ${a.width}x${a.height} != ${b.width}x${b.height}`);
        continue;
      }
      let off = 0;
      for (let p = 0; p < a.gray.length; p++) if (a.gray[p] !== b.gray[p]) off++;
      maskPixelsOff += off;
      if (off > 0) problems.push(`[${i}] mask differs in ${off} of ${a.gray.length} pixels`);
    }
  }
  return { problems, maxScoreDelta, maskPixelsOff };
}

/**
 * image-segmentation on the tiny MaskFormer models against the transformers 4.57.3 pipeline
 * goldens of scripts/fixtures/make_maskformer_goldens.py: panoptic (default), instance (torch's
 * `topk` order on both of its CPU paths: 6 labels take `nth_element`, 70 labels
 * `partial_sort`) and semantic, with lower thresholds, over the image corpus.
 *
 * Labels, order and segment counts are exact, scores within 1e-4, instance and semantic masks
 * pixel-exact; JPEGs compared through the reference's own decode of the file (`*.ref.png`), and
 * on their bytes for well-formed outputs at the oriented size. Panoptic masks may differ in a
 * few pixels where two near-duplicate queries tie to the last bit after the bilinear upsampling
 * (torch's kernel rounds differently from ours, by an ULP): at most 0.5% of a mask's pixels,
 * and the total is logged.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { pipeline } from '../../ts/index.js';
import { compare, FIXTURES, IMAGES, MODELS, maskPixels, type VisionCase } from './vision-goldens.js';

type AnyPipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };

const GOLDENS = JSON.parse(
  readFileSync(path.join(FIXTURES, 'goldens', 'vision-maskformer.json'), 'utf8'),
) as { images: string[]; cases: VisionCase[] };

const pipes = new Map<string, Promise<AnyPipe>>();

function pipeFor(model: string): Promise<AnyPipe> {
  let p = pipes.get(model);
  if (p === undefined) {
    p = pipeline('image-segmentation', path.join(MODELS, model), {
      workers: 0,
    }) as unknown as Promise<AnyPipe>;
    pipes.set(model, p);
  }
  return p;
}

test.after.always(async () => {
  for (const p of pipes.values()) await (await p).dispose();
});

const isJpeg = (name: string) => name.endsWith('.jpg');
const refOf = (name: string) => name.replace(/\.jpg$/, '.ref.png');

for (const model of ['maskformer-tiny', 'maskformer-ade-tiny']) {
  test(`${model}: equal to the reference on every golden (JPEGs through the reference decode)`, async (t) => {
    const cases = GOLDENS.cases.filter((c) => c.model === model);
    t.true(cases.length > 200);
    let maxScoreDelta = 0;
    let maskPixelsOff = 0;
    let checked = 0;
    let segments = 0;
    const subtasks = new Set<string>();
    const failures: string[] = [];
    for (const kase of cases) {
      const pipe = await pipeFor(model);
      const file = isJpeg(kase.image) ? refOf(kase.image) : kase.image;
      const where = `${kase.image} ${JSON.stringify(kase.parameters)}`;
      let got: unknown;
      try {
        got = await pipe(readFileSync(path.join(IMAGES, file)), kase.parameters);
      } catch (err) {
        if (kase.error === undefined) failures.push(`${where}: threw ${(err as Error).message}`);
        else if ((err as { code?: string }).code === undefined) failures.push(`${where}: untyped error`);
        continue;
      }
      if (kase.error !== undefined) {
        failures.push(`${where}: expected ${kase.error.type}: ${kase.error.message}`);
        continue;
      }
      const r = await compare(kase, got);
      maxScoreDelta = Math.max(maxScoreDelta, r.maxScoreDelta);
      maskPixelsOff += r.maskPixelsOff;
      const panoptic = (kase.parameters.subtask ?? 'panoptic') === 'panoptic';
      const problems = r.problems.filter((p) => {
        const m = /mask differs in (\d+) of (\d+) pixels/.exec(p);
        return !(panoptic && m !== null && Number(m[1]) * 200 <= Number(m[2]));
      });
      if (problems.length > 0) failures.push(`${where}: ${problems.slice(0, 3).join('; ')}`);
      checked++;
      segments += kase.output?.length ?? 0;
      subtasks.add(String(kase.parameters.subtask ?? 'panoptic'));
    }
    t.deepEqual(failures, []);
    t.deepEqual([...subtasks].sort(), ['instance', 'panoptic', 'semantic']);
    t.true(segments > 300);
    t.log(
      `${checked} outputs (${segments} segments) match, largest score difference ${maxScoreDelta.toExponential(2)}, ${maskPixelsOff} mask pixels off`,
    );
  });
}

test('MaskFormer on JPEG bytes: well-formed outputs at the oriented size', async (t) => {
  const cases = GOLDENS.cases.filter((c) => isJpeg(c.image) && c.output !== undefined);
  t.true(cases.length > 10);
  for (const kase of cases) {
    const pipe = await pipeFor(kase.model);
    const got = (await pipe(readFileSync(path.join(IMAGES, kase.image)), kase.parameters)) as Record<
      string,
      unknown
    >[];
    t.true(Array.isArray(got));
    const ref = readFileSync(path.join(IMAGES, refOf(kase.image)));
    const size = { w: ref.readUInt32BE(16), h: ref.readUInt32BE(20) };
    for (const item of got) {
      t.is(typeof item.label, 'string');
      t.true(item.score === null || (typeof item.score === 'number' && item.score >= 0 && item.score <= 1));
      const m = await maskPixels(item.mask as string);
      t.deepEqual([m.width, m.height], [size.w, size.h], kase.image);
    }
  }
});

test('MaskFormer segments: panoptic masks disjoint, semantic masks a partition with null scores', async (t) => {
  const pipe = await pipeFor('maskformer-tiny');
  const image = readFileSync(path.join(IMAGES, 'rgb_300x200.png'));
  const panoptic = (await pipe(image, { threshold: 0 })) as { score: number; mask: string }[];
  const semantic = (await pipe(image, { subtask: 'semantic' })) as { score: number | null; mask: string }[];
  t.true(panoptic.length >= 2);
  for (const [list, partition] of [
    [panoptic, false],
    [semantic, true],
  ] as const) {
    const covered = new Uint8Array(300 * 200);
    for (const s of list) {
      const m = await maskPixels(s.mask);
      m.gray.forEach((v, i) => {
        t.true(v === 0 || v === 255);
        if (v === 255) covered[i] = (covered[i] as number) + 1;
      });
    }
    t.true(covered.every((c) => c <= 1));
    if (partition) t.true(covered.every((c) => c === 1));
  }
  t.true(semantic.every((s) => s.score === null));
  await t.throwsAsync(pipe(image, { subtask: 'other' }), { message: /Subtask other is not supported/ });
});

/**
 * Whisper automatic-speech-recognition against transformers 4.57.3's pipeline on
 * ORTModelForSpeechSeq2Seq fed the raw file bytes (test/fixtures/goldens/whisper.json, written by
 * scripts/fixtures/make_whisper_goldens.py) on the tiny random Whisper fixture: decoder prompts
 * (language given, detected or forced; task; English-only models), beam search by default,
 * greedy, length rules, chunked windows merged by the longest common sequence, segment
 * timestamps, long-form audio (a clip `NAME*N` is NAME's PCM frames repeated N times, built as
 * the script builds it) and the reference's error messages. Texts and chunks must be equal.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { InvalidInputError, pipeline } from '../../ts/index.js';
import { decodeAsr, longestCommonSequence } from '../../ts/tasks/asr-whisper.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures');
const MODEL = path.join(fixtures, 'models', 'whisper-tiny-random');

interface Case {
  variant: string;
  patch: Record<string, unknown> | null;
  clip: string;
  parameters: Record<string, unknown>;
  output?: { text: string; chunks?: unknown[] };
  error?: string;
}

const golden = JSON.parse(readFileSync(path.join(fixtures, 'goldens', 'whisper.json'), 'utf8')) as {
  cases: Case[];
};

type Pipe = ((inputs: unknown, parameters?: unknown) => Promise<unknown>) & { dispose(): Promise<void> };

const tmp = mkdtempSync(path.join(os.tmpdir(), 'whisper-'));
const pipes = new Map<string, Promise<Pipe>>();

/** The fixture, or a copy whose generation_config.json carries the variant's patch. */
function pipeFor(c: Case): Promise<Pipe> {
  let p = pipes.get(c.variant);
  if (p === undefined) {
    let dir = MODEL;
    if (c.patch !== null) {
      dir = path.join(tmp, c.variant);
      cpSync(MODEL, dir, { recursive: true });
      const file = path.join(dir, 'generation_config.json');
      const cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(c.patch)) {
        if (v === null) delete cfg[k];
        else cfg[k] = v;
      }
      writeFileSync(file, JSON.stringify(cfg));
    }
    p = pipeline('automatic-speech-recognition', dir, { inline: true }) as unknown as Promise<Pipe>;
    pipes.set(c.variant, p);
  }
  return p;
}

/** The clip's bytes; `NAME*N`: a PCM WAV of NAME's frames repeated N times (canonical header). */
function clipBytes(name: string): Buffer {
  const [base = name, times] = name.split('*');
  const file = readFileSync(path.join(fixtures, 'audio', base));
  if (times === undefined) return file;
  const at = file.indexOf('data');
  const size = file.readUInt32LE(at + 4);
  const frames = file.subarray(at + 8, at + 8 + size);
  const body = Buffer.concat(Array.from({ length: Number(times) }, () => frames));
  const header = Buffer.from(file.subarray(0, at + 8));
  header.writeUInt32LE(header.length - 8 + body.length, 4);
  header.writeUInt32LE(body.length, at + 4);
  return Buffer.concat([header, body]);
}

test.after.always(async () => {
  for (const p of pipes.values()) await (await p).dispose();
  rmSync(tmp, { recursive: true, force: true });
});

test('the goldens cover greedy, beams, prompts, chunking and errors', (t) => {
  const cases = golden.cases;
  t.true(cases.length >= 30);
  t.true(cases.some((c) => c.error !== undefined));
  t.true(cases.some((c) => c.parameters.chunk_length_s !== undefined && c.output !== undefined));
  t.true(cases.some((c) => c.variant === 'english-only' && c.output !== undefined));
  t.true(cases.some((c) => (c.output?.text ?? '').length > 0));
  t.true(cases.some((c) => c.parameters.return_timestamps === true && (c.output?.chunks ?? []).length > 1));
  t.true(cases.some((c) => c.clip.includes('*') && c.output !== undefined));
});

for (const [i, c] of golden.cases.entries()) {
  test.serial(`golden ${i}: ${c.variant} ${c.clip} ${JSON.stringify(c.parameters)}`, async (t) => {
    const pipe = await pipeFor(c);
    const bytes = clipBytes(c.clip);
    if (c.error !== undefined) {
      const err = await t.throwsAsync(pipe(bytes, c.parameters));
      t.true(err instanceof InvalidInputError, String(err));
      t.is(err?.message, c.error);
      return;
    }
    t.deepEqual(await pipe(bytes, c.parameters), c.output);
  });
}

test('word timestamps and unknown parameters are refused as invalid input', async (t) => {
  const c = golden.cases[0] as Case;
  const pipe = await pipeFor(c);
  const bytes = readFileSync(path.join(fixtures, 'audio', c.clip));
  const err = await t.throwsAsync(pipe(bytes, { return_timestamps: 'word' }));
  t.true(err instanceof InvalidInputError);
  t.regex(err?.message ?? '', /cross-attention/);
  const unknown = await t.throwsAsync(pipe(bytes, { not_a_parameter: 1 }));
  t.true(unknown instanceof InvalidInputError);
});

test('longest common sequence merges overlapping windows', (t) => {
  t.deepEqual(longestCommonSequence([[1, 2, 3, 4]]), [1, 2, 3, 4]);
  // The overlap [3, 4, 5] is cut in its middle on both sides.
  t.deepEqual(
    longestCommonSequence([
      [1, 2, 3, 4, 5],
      [3, 4, 5, 6, 7],
    ]),
    [1, 2, 3, 4, 5, 6, 7],
  );
  // No overlap of two or more tokens: plain concatenation.
  t.deepEqual(
    longestCommonSequence([
      [1, 2],
      [3, 4],
    ]),
    [1, 2, 3, 4],
  );
});

test('decodeAsr keeps text between timestamp tokens and drops special tokens', async (t) => {
  const c = golden.cases[0] as Case;
  await pipeFor(c);
  const { Tokenizer } = await import('../../ts/tokenizer.js');
  const tok = Tokenizer.fromFile(MODEL);
  const ids = Array.from(tok.encode(' hello world', { addSpecialTokens: false }).inputIds, Number);
  const ts0 = (tok.tokenToId('<|notimestamps|>') as number) + 1;
  const en = tok.tokenToId('<|en|>') as number;
  const text = tok.decode(ids);
  t.deepEqual(decodeAsr(tok, [{ tokens: [en, ...ids] }], { returnTimestamps: false, timePrecision: 0.02 }), {
    text,
  });
  const out = decodeAsr(tok, [{ tokens: [ts0, ...ids, ts0 + 50] }], {
    returnTimestamps: true,
    timePrecision: 0.02,
  });
  t.deepEqual(out, { text, chunks: [{ timestamp: [0, 1], text }] });
});

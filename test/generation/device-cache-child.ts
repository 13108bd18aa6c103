/**
 * Run in a child process by device-cache.test.ts (a WebGPU driver that misbehaves, or a crash at
 * exit, cannot take the test process down). Prints one JSON line on stdout.
 *
 * - `probe`: whether a WebGPU session opens here, and if not the library's reason;
 * - `equal`: the same concurrent requests (greedy and beam, of different lengths, a second
 *   wave joining while the first decodes) on the CPU and on WebGPU with and without the device
 *   cache, on a decoder-only model and two encoder-decoders (merged and split decoder graphs);
 *   token ids and the engine's cache counters;
 * - `lifecycle`: device tensors after finished, aborted, failed and disposed requests, with
 *   failures injected into a decoder run and into a device gather mid-generation.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decoderLayout } from '../../ts/generation/decoder.js';
import { createGenerator, type DeviceCacheStats, type Generator } from '../../ts/generation/engine.js';
import {
  type DeviceRunner,
  GenerationLoop,
  type GenerationRequest,
  type GenerationResult,
} from '../../ts/generation/loop.js';
import { loadModelConfig } from '../../ts/runtime/config.js';
import { type DeviceOps, liveDeviceTensors } from '../../ts/runtime/device-tensor.js';
import { onnxOutputNames } from '../../ts/runtime/onnx-graph.js';
import { createSessionRunner, openSessionCount, type SessionRunner } from '../../ts/runtime/session.js';
import { Tokenizer } from '../../ts/tokenizer.js';

const models = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models');

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

interface ModelCase {
  name: string;
  file: string;
  seq2seq?: { encoderFile: string; firstFile?: string };
  eos: number[];
  pad: number;
  /** Decoder prompts (decoder-only) or encoder inputs (encoder-decoder). */
  inputs: number[][];
  /** Encoder-decoder: the decoder prompt. */
  start?: number[];
  /** A speech encoder: log-mel features [1, 80, 3000] made from `inputs[i][0]` instead of ids. */
  features?: boolean;
  /** Decoding settings of the model's generation config that matter here. */
  decoding?: { forcedBosTokenId?: number };
}

const GPT2: ModelCase = {
  name: 'gpt2-tiny',
  file: path.join(models, 'gpt2-tiny', 'model.onnx'),
  eos: [0],
  pad: 0,
  inputs: [
    [580, 323, 669, 301, 290, 266, 421, 278, 337, 569, 269],
    [280, 333, 510, 70, 288, 359, 430, 261],
    [40, 288, 349],
    [221, 387, 348, 302, 278, 260, 82, 65, 294, 302, 447, 308, 264, 221, 221],
    [39, 82, 368, 468, 69, 296, 307, 406, 128, 115, 76, 78, 26, 397, 101, 65, 396, 65, 260, 433],
  ],
};

const T5: ModelCase = {
  name: 't5-tiny',
  file: path.join(models, 't5-tiny', 'decoder_model_merged.onnx'),
  seq2seq: { encoderFile: path.join(models, 't5-tiny', 'encoder_model.onnx') },
  eos: [1],
  pad: 0,
  start: [0],
  inputs: [
    [
      187, 27, 27, 7, 83, 53, 4, 115, 44, 14, 257, 3, 21, 38, 7, 68, 22, 3, 16, 92, 211, 13, 230, 111, 23, 5,
      1,
    ],
    [222, 32, 6, 99, 97, 353, 25, 21, 22, 40, 3, 362, 19, 115, 80, 9, 136, 241, 4, 31, 125, 5, 1],
    [222, 32, 6, 99, 97, 353, 25, 21, 22, 40, 1],
    [187, 27, 27, 7, 83, 53, 4, 115, 20, 4, 142, 11, 218, 88, 161, 232, 13, 154, 3, 1],
    [44, 14, 257, 3, 21, 38, 7, 1],
  ],
};

const BART: ModelCase = {
  name: 'bart-tiny',
  file: path.join(models, 'bart-tiny', 'decoder_with_past_model.onnx'),
  seq2seq: {
    encoderFile: path.join(models, 'bart-tiny', 'encoder_model.onnx'),
    firstFile: path.join(models, 'bart-tiny', 'decoder_model.onnx'),
  },
  eos: [2],
  pad: 1,
  start: [2],
  decoding: { forcedBosTokenId: 0 },
  inputs: [
    [0, 583, 326, 309, 72, 304, 293, 269, 424, 281, 340, 572, 272, 354, 265, 71, 265, 17, 2],
    [0, 43, 291, 352, 2],
    [0, 224, 390, 351, 305, 281, 263, 85, 68, 297, 305, 450, 311, 267, 224, 224, 2],
    [0, 42, 85, 371, 471, 72, 299, 310, 409, 131, 118, 79, 81, 29, 400, 104, 68, 399, 68, 263, 436, 2],
    [0, 283, 336, 513, 73, 291, 362, 433, 264, 272, 496, 304, 2],
  ],
};

/** Whisper (one decoder layer: the decoder's cache outputs are a prefix of its outputs). */
const WHISPER: ModelCase = {
  name: 'whisper-tiny-random',
  file: path.join(models, 'whisper-tiny-random', 'decoder_model_merged.onnx'),
  seq2seq: { encoderFile: path.join(models, 'whisper-tiny-random', 'encoder_model.onnx') },
  eos: [699],
  pad: 699,
  // <|startoftranscript|> <|en|> <|transcribe|>
  start: [700, 701, 705],
  features: true,
  inputs: [[1], [2], [3], [4], [5]],
};

/** Deterministic stand-in log-mel features, different for each seed. */
function features(seed: number): { data: Float32Array; dims: number[] } {
  const data = new Float32Array(80 * 3000);
  for (let i = 0; i < data.length; i++) data[i] = 0.5 * Math.sin(i * 0.001 * seed + seed) - 0.2;
  return { data, dims: [1, 80, 3000] };
}

/** One request of the scenario: input `input`, `maxNewTokens`, greedy (streamed), beams or seeded samples. */
interface Plan {
  input: number;
  maxNewTokens: number;
  beams?: number;
  samples?: number;
}

/**
 * The first wave runs from the start; the second is submitted once the first request has
 * streamed 3 tokens, so that its rows join batches already decoding. Lengths differ, so rows
 * leave at different steps; beam requests reorder their rows at every step.
 */
const WAVE1: Plan[] = [
  { input: 0, maxNewTokens: 14 },
  { input: 1, maxNewTokens: 4 },
  { input: 2, maxNewTokens: 9, beams: 3 },
  { input: 3, maxNewTokens: 6 },
];
const WAVE2: Plan[] = [
  { input: 4, maxNewTokens: 7 },
  { input: 1, maxNewTokens: 5, beams: 2 },
  { input: 3, maxNewTokens: 11, beams: 4 },
  { input: 2, maxNewTokens: 6, samples: 2 },
];

function request(m: ModelCase, p: Plan): GenerationRequest {
  const input = m.inputs[p.input] as number[];
  const seq2seq = m.start !== undefined;
  return {
    promptIds: seq2seq ? (m.start as number[]) : input,
    ...(seq2seq && !m.features && { encoderIds: input }),
    ...(m.features && { encoderFeatures: features(input[0] as number) }),
    // EOS only in the second half, so that sequences run long enough to move their caches.
    decoding: {
      eosTokenIds: m.eos,
      minNewTokens: Math.ceil(p.maxNewTokens / 2),
      ...m.decoding,
      ...(p.samples !== undefined && { doSample: true, topK: 20 }),
    },
    rows: p.samples ?? 1,
    ...(p.samples !== undefined && { seed: 7 }),
    maxNewTokens: p.maxNewTokens,
    eosTokenIds: m.eos,
    padTokenId: m.pad,
    stream: p.beams === undefined && p.samples === undefined,
    ...(p.beams !== undefined && {
      beam: { numBeams: p.beams, lengthPenalty: 1, earlyStopping: false, numReturnSequences: 2 },
    }),
  };
}

/** A result's token ids, with their logprobs (greedy) or the sequence score (beams). */
function ids(r: GenerationResult): Array<{ ids: number[]; logprobs: number[]; score?: number }> {
  return r.sequences.map((s) => ({
    ids: s.ids,
    logprobs: s.logprobs,
    ...(s.score !== undefined && { score: s.score }),
  }));
}

/**
 * Runs both waves on `g`: the token ids of every request, in plan order, and whether the second
 * wave was submitted while the first was decoding (after 3 streamed tokens).
 */
async function scenario(
  g: Generator,
  m: ModelCase,
): Promise<{ ids: Array<ReturnType<typeof ids>>; joined: boolean }> {
  let second: Promise<GenerationResult[]> | null = null;
  let streamed = 0;
  const startSecond = () => {
    second ??= Promise.all(WAVE2.map((q) => g.generate(request(m, q))));
  };
  const first = WAVE1.map((p) =>
    g.generate(request(m, p), {
      onToken: () => {
        if (++streamed === 3) startSecond();
      },
    }),
  );
  const done = await Promise.all(first);
  const joined = second !== null;
  startSecond();
  const later = await (second as unknown as Promise<GenerationResult[]>);
  return { ids: [...done, ...later].map(ids), joined };
}

async function engine(m: ModelCase, options: Record<string, unknown>): Promise<Generator> {
  return createGenerator(m.file, { ...options, ...(m.seq2seq !== undefined && { seq2seq: m.seq2seq }) });
}

async function equal(): Promise<void> {
  const out: Record<string, unknown> = {};
  for (const m of [GPT2, T5, BART, WHISPER]) {
    const cpu = await engine(m, { device: 'cpu', inline: true });
    const reference = await Promise.all([...WAVE1, ...WAVE2].map((p) => cpu.generate(request(m, p))));
    const cpuStats = await cpu.deviceCacheStats?.();
    await cpu.dispose();
    // The engine's default for a GPU device: its own worker thread.
    const device = await engine(m, { device: 'webgpu' });
    const onDevice = await scenario(device, m);
    const deviceStats = (await device.deviceCacheStats?.()) as DeviceCacheStats;
    await device.dispose();
    const host = await engine(m, { device: 'webgpu', deviceCache: false, inline: true });
    const onHost = await scenario(host, m);
    const hostStats = await host.deviceCacheStats?.();
    await host.dispose();
    out[m.name] = {
      requests: WAVE1.length + WAVE2.length,
      cpu: reference.map(ids),
      device: onDevice.ids,
      host: onHost.ids,
      joined: onDevice.joined && onHost.joined,
      cpuStats,
      deviceStats,
      hostStats,
      mode: device.mode,
    };
  }
  out.openSessions = openSessionCount();
  out.live = liveDeviceTensors();
  print(out);
}

/** A decoder runner that fails its `failAt`-th run, and device ops that fail their `takeFailAt`-th gather. */
function faulty(session: SessionRunner, failAt: number, takeFailAt: number): DeviceRunner {
  let runs = 0;
  let takes = 0;
  const ops = session.deviceOps as DeviceOps;
  const wrappedOps = {
    stats: ops.stats,
    take: (...args: Parameters<DeviceOps['take']>) => {
      if (++takes === takeFailAt) return Promise.reject(new Error('injected device gather failure'));
      return ops.take(...args);
    },
    join: (...args: Parameters<DeviceOps['join']>) => ops.join(...args),
    download: (...args: Parameters<DeviceOps['download']>) => ops.download(...args),
    release: () => ops.release(),
  } as unknown as DeviceOps;
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    deviceOutputs: session.deviceOutputs,
    deviceOps: wrappedOps,
    run: (feeds, opts) => session.run(feeds, opts),
    runOnDevice: (feeds, opts) => {
      if (++runs === failAt) return Promise.reject(new Error('injected decoder failure'));
      return session.runOnDevice(feeds, opts);
    },
    dispose: () => session.dispose(),
  };
}

async function settle<T>(p: Promise<T>): Promise<{ ok: T } | { error: string }> {
  try {
    return { ok: await p };
  } catch (err) {
    return { error: `${(err as { code?: string }).code ?? ''} ${(err as Error).message}` };
  }
}

async function lifecycle(): Promise<void> {
  const out: Record<string, unknown> = {};
  const m = GPT2;
  // Finished requests: every device tensor freed once the results are in.
  const g = await engine(m, { device: 'webgpu', inline: true });
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, liveDeviceTensors());
  };
  await Promise.all([...WAVE1, ...WAVE2].map((p) => g.generate(request(m, p), { onToken: sample })));
  out.finished = { ...(await g.deviceCacheStats?.()), live: liveDeviceTensors(), peak };

  // A greedy request aborted after 3 tokens while a beam request goes on.
  const controller = new AbortController();
  let tokens = 0;
  const aborted = settle(
    g.generate(request(m, { input: 0, maxNewTokens: 40 }), {
      signal: controller.signal,
      onToken: () => {
        if (++tokens === 3) controller.abort();
      },
    }),
  );
  const beside = settle(g.generate(request(m, { input: 3, maxNewTokens: 12, beams: 3 })));
  out.aborted = { aborted: await aborted, beside: await beside, live: liveDeviceTensors() };

  // Disposed with requests running: they fail, and their caches are freed with the sessions.
  let seen = 0;
  let disposed: Promise<void> | null = null;
  const running = [
    settle(
      g.generate(request(m, { input: 1, maxNewTokens: 40 }), {
        onToken: () => {
          if (++seen === 4) disposed = g.dispose();
        },
      }),
    ),
    settle(g.generate(request(m, { input: 4, maxNewTokens: 40, beams: 3 }))),
  ];
  const results = await Promise.all(running);
  await disposed;
  out.disposed = { results, live: liveDeviceTensors(), openSessions: openSessionCount() };

  // Failures injected mid-generation, in a decoder run and in a device gather (beam reorder).
  const session = await createSessionRunner(m.file, {
    device: 'webgpu',
    deviceOutputs: onnxOutputNames(m.file).filter((n) => n.startsWith('present')),
  });
  const config = loadModelConfig(path.dirname(m.file));
  const layout = decoderLayout(
    session.inputMetadata.map((d) => ({
      name: d.name,
      ...(d.isTensor ? { type: d.type, shape: d.shape } : {}),
    })),
    session.outputMetadata.map((d) => ({ name: d.name })),
    config,
  );
  const tokenizer = Tokenizer.fromFile(path.dirname(m.file));
  const runFailure = new GenerationLoop(faulty(session, 5, 0), layout, tokenizer);
  const failed = await Promise.all([
    settle(runFailure.submit(request(m, { input: 0, maxNewTokens: 20 })).result),
    settle(runFailure.submit(request(m, { input: 2, maxNewTokens: 20, beams: 2 })).result),
  ]);
  await runFailure.idle();
  out.runFailure = { results: failed, stats: runFailure.stats(), live: liveDeviceTensors() };
  const takeFailure = new GenerationLoop(faulty(session, 0, 4), layout, tokenizer);
  const failedTake = await Promise.all([
    settle(takeFailure.submit(request(m, { input: 0, maxNewTokens: 20 })).result),
    settle(takeFailure.submit(request(m, { input: 2, maxNewTokens: 20, beams: 3 })).result),
  ]);
  await takeFailure.idle();
  out.takeFailure = { results: failedTake, stats: takeFailure.stats(), live: liveDeviceTensors() };
  // The runner still serves a loop afterwards.
  const after = new GenerationLoop(session, layout, tokenizer);
  out.after = {
    result: await settle(after.submit(request(m, { input: 2, maxNewTokens: 5 })).result),
    stats: after.stats(),
  };
  await after.idle();
  out.after = { ...(out.after as object), live: liveDeviceTensors() };
  // A plain run on a session with device outputs: host tensors back, nothing left on the device.
  const names = onnxOutputNames(m.file);
  const plain = await session.run(
    Object.fromEntries(
      session.inputNames.map((n) => {
        if (n.startsWith('past'))
          return [n, { type: 'float32', data: new Float32Array(0), dims: [1, 4, 0, 8] }];
        return [n, { type: 'int64', data: BigInt64Array.of(n === 'position_ids' ? 0n : 1n), dims: [1, 1] }];
      }),
    ),
  );
  out.plainRun = {
    outputs: Object.keys(plain).length === names.length,
    hostData: Object.values(plain).every((t) => t.data instanceof Float32Array),
    downloads: session.deviceOps?.stats.downloads,
    live: liveDeviceTensors(),
  };
  await session.dispose();
  // CPU: no device outputs, no device cache.
  const cpu = await engine(m, { device: 'cpu', inline: true });
  await cpu.generate(request(m, { input: 2, maxNewTokens: 5, beams: 2 }));
  out.cpu = await cpu.deviceCacheStats?.();
  await cpu.dispose();
  out.openSessions = openSessionCount();
  print(out);
}

async function main(mode: string | undefined): Promise<void> {
  switch (mode) {
    case 'probe':
      try {
        const r = await createSessionRunner(GPT2.file, { device: 'webgpu' });
        print({ ok: true, device: r.device });
        await r.dispose();
      } catch (err) {
        print({ ok: false, reason: (err as Error).message });
      }
      return;
    case 'equal':
      await equal();
      return;
    case 'lifecycle':
      await lifecycle();
      return;
    default:
      throw new Error(`unknown mode ${String(mode)}`);
  }
}

await main(process.argv[2]);

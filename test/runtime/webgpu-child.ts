/**
 * Run in a child process by webgpu.test.ts (so that a Vulkan driver that misbehaves, or a crash
 * at exit, cannot take the test process down). Prints one JSON line on stdout.
 *
 * - `probe`: whether a WebGPU session opens here, and if not the library's reason;
 * - `no-adapter`: `device: 'webgpu'` without an adapter, then with `deviceFallback`;
 * - `exit-open`: opens WebGPU sessions (pooled and inline), runs them, and calls
 *   `process.exit(0)` without disposing anything.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EngineRunner, engineRunnerFactory, pipeline } from '../../ts/index.js';
import { createSessionRunner, openSessionCount } from '../../ts/runtime/session.js';

const models = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models');
const SENTIMENT = path.join(models, 'bert-sentiment');
const TEXT = 'I love this movie, it was absolutely wonderful!';

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** pipeline() on the default engine, keeping the runner it opens. */
async function capturingPipe(options: Record<string, unknown>) {
  const runners: EngineRunner[] = [];
  const factory = engineRunnerFactory();
  const pipe = await pipeline('text-classification', SENTIMENT, {
    ...options,
    createRunner: async (onnxPath, runnerOptions) => {
      const r = await factory(onnxPath, runnerOptions);
      runners.push(r);
      return r;
    },
  });
  return { pipe, runner: () => runners[0] };
}

async function main(mode: string | undefined): Promise<void> {
  switch (mode) {
    case 'probe': {
      try {
        const r = await createSessionRunner(path.join(SENTIMENT, 'model.onnx'), { device: 'webgpu' });
        print({ ok: true, device: r.device });
        await r.dispose();
      } catch (err) {
        print({ ok: false, reason: (err as Error).message });
      }
      return;
    }
    case 'no-adapter': {
      const out: Record<string, unknown> = {};
      try {
        const pipe = await pipeline('text-classification', SENTIMENT, { device: 'webgpu' });
        out.opened = true;
        await pipe.dispose();
      } catch (err) {
        const e = err as Error & { code?: string };
        out.error = { name: e.constructor.name, code: e.code, message: e.message };
      }
      try {
        await createSessionRunner(path.join(SENTIMENT, 'model.onnx'), { device: 'webgpu' });
        out.inlineOpened = true;
      } catch (err) {
        out.inlineError = (err as Error).constructor.name;
      }
      const { pipe, runner } = await capturingPipe({ device: 'webgpu', deviceFallback: true });
      out.fallback = { device: runner()?.device, mode: runner()?.mode, output: await pipe(TEXT) };
      await pipe.dispose();
      out.openSessions = openSessionCount();
      print(out);
      return;
    }
    case 'exit-open': {
      const { pipe, runner } = await capturingPipe({ device: 'webgpu' });
      const inline = await pipeline('text-classification', SENTIMENT, { device: 'webgpu', workers: 0 });
      const pooled = await pipe(TEXT);
      const direct = await inline(TEXT);
      print({ device: runner()?.device, pooled, direct, openSessions: openSessionCount() });
      process.exit(0);
      return;
    }
    default:
      throw new Error(`unknown mode ${String(mode)}`);
  }
}

await main(process.argv[2]);

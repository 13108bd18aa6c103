/**
 * A pool worker: owns onnxruntime sessions (it loads onnxruntime-node itself) and runs jobs on
 * them, one message at a time. Stacked jobs are padded, run once and cut back here, so the main
 * thread only routes; result tensors go back by transferring their buffers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ModelError } from '../errors.js';
import { runJob } from './batch.js';
import { SessionRunner } from './session.js';
import { type Fault, type FromWorker, type ToWorker, toWire, transferList } from './wire.js';

const port = parentPort;
if (port === null) throw new Error('hf-tasks: runtime/worker is a worker thread entry point');

const faultInjection = (workerData as { faultInjection?: boolean } | null)?.faultInjection === true;
const runners = new Map<number, SessionRunner>();
let armed: Fault | null = null;

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  if (transfer.length === 0) {
    port?.postMessage(msg);
    return;
  }
  try {
    port?.postMessage(msg, transfer);
  } catch {
    // A buffer that cannot be transferred (external memory) is copied instead.
    port?.postMessage(msg);
  }
}

function runner(key: number): SessionRunner {
  const r = runners.get(key);
  if (r === undefined) throw new ModelError('ERR_DISPOSED', `model ${key} is not loaded in this worker`);
  return r;
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'load': {
      try {
        const r = await SessionRunner.create(msg.modelPath, msg.options);
        runners.set(msg.key, r);
        post({
          type: 'loaded',
          req: msg.req,
          info: {
            inputNames: r.inputNames,
            outputNames: r.outputNames,
            inputMetadata: r.inputMetadata.map((m) => ({ ...m })),
            outputMetadata: r.outputMetadata.map((m) => ({ ...m })),
            device: r.device,
          },
        });
      } catch (err) {
        post({ type: 'error', req: msg.req, error: toWire(err) });
      }
      return;
    }
    case 'unload': {
      const r = runners.get(msg.key);
      runners.delete(msg.key);
      try {
        await r?.dispose();
        post({ type: 'done', req: msg.req });
      } catch (err) {
        post({ type: 'error', req: msg.req, error: toWire(err) });
      }
      return;
    }
    case 'run': {
      if (armed !== null) {
        const fault = armed;
        armed = null;
        if (fault === 'exit') process.exit(70);
        // An uncaught exception ends the worker, as a bug in a native binding would.
        setImmediate(() => {
          throw new Error('injected worker fault');
        });
        return;
      }
      try {
        const started = performance.now();
        const results = await runJob(runner(msg.key), msg.job);
        post(
          { type: 'result', req: msg.req, results, ms: performance.now() - started },
          transferList(results),
        );
      } catch (err) {
        post({ type: 'error', req: msg.req, error: toWire(err) });
      }
      return;
    }
    case 'fault':
      if (faultInjection) armed = msg.fault;
      return;
    case 'close': {
      for (const r of runners.values()) await r.dispose().catch(() => undefined);
      runners.clear();
      port?.close();
      return;
    }
  }
}

// Messages are handled strictly in order: a run never overlaps a load or another run.
let chain: Promise<void> = Promise.resolve();
port.on('message', (msg: ToWorker) => {
  chain = chain.then(() => handle(msg));
});

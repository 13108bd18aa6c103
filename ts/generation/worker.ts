/**
 * The generation worker: owns one decoder model's session, tokenizer and decode loop. Requests
 * arrive as prompt ids and parameters; token events and results go back. The key/value caches
 * stay in this thread (on WebGPU, in GPU memory: device tensors never cross threads).
 */
import { parentPort } from 'node:worker_threads';
import { ModelError } from '../errors.js';
import type { SessionRunner } from '../runtime/session.js';
import { toWire, transferList } from '../runtime/wire.js';
import { type FromGenWorker, type OpenedGenerator, openInline, type ToGenWorker } from './engine.js';
import type { GenerationLoop } from './loop.js';

const port = parentPort;
if (port === null) throw new Error('hf-tasks: generation/worker is a worker thread entry point');

let session: SessionRunner | null = null;
let opened: OpenedGenerator | null = null;
let loop: GenerationLoop | null = null;
const cancels = new Map<number, () => void>();

/** Answers a request that needs the model before it is open (or after it closed). */
function notOpen(id: number): void {
  post({ type: 'error', id, error: toWire(new ModelError('ERR_DISPOSED', 'the model is not open')) });
}

function post(msg: FromGenWorker): void {
  port?.postMessage(msg);
}

port.on('message', (msg: ToGenWorker) => {
  switch (msg.type) {
    case 'open':
      openInline(msg.onnxFile, msg.options).then(
        (o) => {
          opened = o;
          session = o.session;
          loop = o.loop;
          post({
            type: 'opened',
            layout: o.layout,
            inputNames: session.inputNames,
            outputNames: session.outputNames,
          });
        },
        (err: unknown) => post({ type: 'error', id: 0, error: toWire(err) }),
      );
      return;
    case 'generate': {
      if (loop === null) {
        notOpen(msg.id);
        return;
      }
      const id = msg.id;
      const handle = loop.submit(msg.request, (event) => post({ type: 'token', id, event }));
      cancels.set(id, handle.cancel);
      handle.result
        .then(
          (result) => post({ type: 'result', id, result }),
          (err: unknown) => post({ type: 'error', id, error: toWire(err) }),
        )
        .finally(() => cancels.delete(id));
      return;
    }
    case 'cancel':
      cancels.get(msg.id)?.();
      return;
    case 'run': {
      const s = session;
      if (s === null) {
        notOpen(msg.id);
        return;
      }
      s.run(msg.feeds, msg.outputs === undefined ? {} : { outputs: msg.outputs }).then(
        (outputs) =>
          port?.postMessage(
            { type: 'ran', id: msg.id, outputs } satisfies FromGenWorker,
            transferList([outputs]),
          ),
        (err: unknown) => post({ type: 'error', id: msg.id, error: toWire(err) }),
      );
      return;
    }
    case 'stats':
      if (opened === null) {
        notOpen(msg.id);
        return;
      }
      post({ type: 'stats', id: msg.id, stats: opened.deviceCacheStats() });
      return;
    case 'close':
      // The loop stops, its step in flight ends and its caches are freed before the sessions go.
      void (opened?.dispose() ?? Promise.resolve()).finally(() => port?.close());
      return;
  }
});

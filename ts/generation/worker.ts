/**
 * The generation worker: owns one decoder model's session, tokenizer and decode loop. Requests
 * arrive as prompt ids and parameters; token events and results go back. The key/value caches
 * stay in this thread.
 */
import { parentPort } from 'node:worker_threads';
import { ModelError } from '../errors.js';
import type { SessionRunner } from '../runtime/session.js';
import { toWire, transferList } from '../runtime/wire.js';
import { type FromGenWorker, openInline, type ToGenWorker } from './engine.js';
import type { GenerationLoop } from './loop.js';

const port = parentPort;
if (port === null) throw new Error('hf-tasks: generation/worker is a worker thread entry point');

let session: SessionRunner | null = null;
let release: (() => Promise<void>) | null = null;
let loop: GenerationLoop | null = null;
const cancels = new Map<number, () => void>();

function post(msg: FromGenWorker): void {
  port?.postMessage(msg);
}

port.on('message', (msg: ToGenWorker) => {
  switch (msg.type) {
    case 'open':
      openInline(msg.onnxFile, msg.options).then(
        (opened) => {
          session = opened.session;
          release = opened.dispose;
          loop = opened.loop;
          post({
            type: 'opened',
            layout: opened.layout,
            inputNames: session.inputNames,
            outputNames: session.outputNames,
          });
        },
        (err: unknown) => post({ type: 'error', id: 0, error: toWire(err) }),
      );
      return;
    case 'generate': {
      if (loop === null) {
        post({
          type: 'error',
          id: msg.id,
          error: toWire(new ModelError('ERR_DISPOSED', 'the model is not open')),
        });
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
        post({
          type: 'error',
          id: msg.id,
          error: toWire(new ModelError('ERR_DISPOSED', 'the model is not open')),
        });
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
    case 'close':
      loop?.close(new ModelError('ERR_DISPOSED', 'the generation engine has been disposed'));
      void (release?.() ?? Promise.resolve()).finally(() => port?.close());
      return;
  }
});

/**
 * handleSignals: a shutdown that finishes exits 0; one that runs out of time still frees the
 * models (a GPU session left open at exit can crash the process) before exiting 1, once.
 */
import test from 'ava';
import type { HfTasksServer } from '../../ts/server/index.js';
import { handleSignals } from '../../ts/server/start.js';

function fakeServer(close: () => Promise<void>, dispose: () => Promise<void>) {
  const lines: string[] = [];
  const log = (line: unknown) => lines.push(String(line));
  const server = {
    app: { log: { info: log, warn: log, error: (_o: unknown, m?: unknown) => log(m ?? _o) } },
    ctx: { registry: { dispose } },
    close,
  } as unknown as HfTasksServer;
  return { server, lines };
}

/** Installs handleSignals, sends SIGTERM to its listener only, and removes the listeners after. */
function signal(server: HfTasksServer, timeoutMs: number, exit: (code: number) => void): () => void {
  const before = new Set([...process.listeners('SIGTERM'), ...process.listeners('SIGINT')]);
  handleSignals(server, timeoutMs, exit);
  const added = (name: 'SIGTERM' | 'SIGINT') => process.listeners(name).filter((l) => !before.has(l));
  const [onTerm] = added('SIGTERM');
  const remove = () => {
    for (const name of ['SIGTERM', 'SIGINT'] as const) for (const l of added(name)) process.off(name, l);
  };
  (onTerm as (s: NodeJS.Signals) => void)('SIGTERM');
  return remove;
}

test.serial('a shutdown that finishes exits 0 once', async (t) => {
  const codes: number[] = [];
  let disposed = 0;
  const { server } = fakeServer(
    async () => undefined,
    async () => {
      disposed++;
    },
  );
  const remove = signal(server, 1000, (c) => codes.push(c));
  t.teardown(remove);
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(codes, [0]);
  t.is(disposed, 0, 'close() frees the models itself');
});

test.serial('a shutdown that runs out of time frees the models, then exits 1 once', async (t) => {
  const codes: number[] = [];
  let disposed = 0;
  let finishClose: () => void = () => undefined;
  const { server, lines } = fakeServer(
    () =>
      new Promise<void>((resolve) => {
        finishClose = resolve;
      }),
    async () => {
      disposed++;
    },
  );
  const remove = signal(server, 20, (c) => codes.push(c));
  t.teardown(remove);
  await new Promise((r) => setTimeout(r, 200));
  t.is(disposed, 1);
  t.deepEqual(codes, [1]);
  t.true(lines.some((l) => /did not finish within 20 ms: freeing the models/.test(l)));
  // The drain finishing late does not exit a second time.
  finishClose();
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(codes, [1]);
});

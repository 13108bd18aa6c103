/**
 * The per-request deadline: a request's computation runs inside `withDeadline`; when the
 * deadline passes the request is answered 504, its network calls still waiting in the engine's
 * queue are dropped (`deadlineSignal`) and every call it would make later is refused
 * (`checkDeadline` in the served runners), so an abandoned request stops using the workers
 * once the runs already under way finish.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { HttpError } from './errors.js';

interface Deadline {
  readonly seconds: number;
  expired: boolean;
  /** Aborted at the deadline: drops the request's calls still queued in the engine. */
  readonly controller: AbortController;
}

const current = new AsyncLocalStorage<Deadline>();

function deadlineExceeded(seconds: number): HttpError {
  return new HttpError(
    504,
    `the request did not finish within ${seconds} s and was abandoned (raise the limit with --request-timeout or the \`requestTimeout\` setting)`,
  );
}

/** Runs `fn` with a deadline of `seconds` (0: none); rejects with 504 when it passes. */
export async function withDeadline<T>(seconds: number, fn: () => Promise<T>): Promise<T> {
  if (!(seconds > 0)) return fn();
  const deadline: Deadline = { seconds, expired: false, controller: new AbortController() };
  let timer: NodeJS.Timeout | undefined;
  const work = current.run(deadline, fn);
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      deadline.expired = true;
      const err = deadlineExceeded(seconds);
      deadline.controller.abort(err);
      reject(err);
    }, seconds * 1000);
  });
  try {
    return await Promise.race([work, expiry]);
  } finally {
    clearTimeout(timer);
    // An abandoned computation still settles later; its outcome is dropped.
    work.catch(() => undefined);
  }
}

/** Throws the 504 when the calling request's deadline has passed. */
export function checkDeadline(): void {
  const deadline = current.getStore();
  if (deadline?.expired) throw deadlineExceeded(deadline.seconds);
}

/** The abort signal of the calling request's deadline, if it has one. */
export function deadlineSignal(): AbortSignal | undefined {
  return current.getStore()?.controller.signal;
}

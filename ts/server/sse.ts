/**
 * Server-sent events: a `200 text/event-stream` answer whose events are `data: <payload>` lines
 * (a JSON value, or a bare string such as OpenAI's `[DONE]`), each followed by a blank line. The
 * stream goes through Fastify (its hooks, CORS headers and metrics apply) and is written as the
 * events come; once the client has gone away further writes are dropped.
 */
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';

export class SseWriter {
  readonly #stream = new PassThrough();

  constructor(reply: FastifyReply) {
    reply
      .code(200)
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-accel-buffering', 'no')
      .send(this.#stream);
  }

  /** Whether events can still be written. */
  get open(): boolean {
    return !this.#stream.destroyed && !this.#stream.writableEnded;
  }

  /** Writes one event: `data: <JSON>` (or the string as is). */
  data(payload: unknown): void {
    if (!this.open) return;
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    this.#stream.write(`data: ${text}\n\n`);
  }

  /** Ends the answer. */
  end(): void {
    if (this.open) this.#stream.end();
  }
}

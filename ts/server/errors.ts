/**
 * HTTP errors: every failure of a request becomes a status and a JSON body in the dialect of
 * the route (Inference API `{"error"}`, TEI `{"error", "error_type"}`, OpenAI
 * `{"error": {"message", "type", "code"}}`, text-generation-inference (TGI) `{"error",
 * "error_type"}` with its 422 for invalid requests). Unexpected failures become 500 "unknown
 * error" and are logged, never echoed; a call cancelled because its client went away is 499.
 */
import { HfTasksError, InvalidInputError, InvalidParameterError, ModelNotFoundError } from '../errors.js';

/** The error dialect of a route. */
export type ErrorDialect = 'hf' | 'tei' | 'tgi' | 'openai';

/** An error that already knows its HTTP status and Inference-API body. */
export class HttpError extends Error {
  readonly status: number;
  /** The `error` field: a message or, for parameter validation, a list of messages. */
  readonly error: string | string[];
  /** Extra top-level fields of the body (e.g. `estimated_time`). */
  readonly extra: Record<string, unknown>;
  /** Extra response headers (e.g. `retry-after`). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    error: string | string[],
    opts: { extra?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(Array.isArray(error) ? error.join('; ') : error, { cause: opts.cause });
    this.name = 'HttpError';
    this.status = status;
    this.error = error;
    this.extra = opts.extra ?? {};
    this.headers = opts.headers ?? {};
  }
}

/** 404 for a model this server does not serve. */
export function modelNotFound(id: string): HttpError {
  return new HttpError(404, `Model ${id} does not exist`);
}

/** 503 while a model loads and the caller did not ask to wait. */
export function modelLoading(id: string, estimatedSeconds: number): HttpError {
  return new HttpError(503, `Model ${id} is currently loading`, {
    extra: { estimated_time: estimatedSeconds },
    headers: { 'retry-after': String(Math.max(1, Math.ceil(estimatedSeconds))) },
  });
}

/** 429 when a model's queue is full. */
export function queueFull(id: string, limit: number): HttpError {
  return new HttpError(429, `Model ${id} is overloaded: ${limit} requests are already queued, retry later`, {
    headers: { 'retry-after': '1' },
  });
}

/** 400 with a plain message. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, message);
}

/** Codes of the library's own errors that mean "the caller's input is at fault". */
const INPUT_CODES = new Set(['ERR_INVALID_ARGUMENT', 'ERR_TOKENIZE', 'ERR_TOKEN_ID', 'ERR_INVALID_INPUT']);
/** Codes that mean "too much load right now". */
const OVERLOAD_CODES = new Set(['ERR_QUEUE_FULL', 'ERR_OVERLOADED']);
/** Codes that mean "an input is longer than the model accepts". */
const TOO_LONG_CODES = new Set(['ERR_INPUT_TOO_LONG', 'ERR_TOO_LONG']);
/** Codes of inputs over a size or duration limit (413). */
const PAYLOAD_TOO_LARGE_CODES = new Set(['ERR_AUDIO_TOO_LARGE', 'ERR_AUDIO_TOO_LONG']);

/** Status and Inference-API error field of any thrown value. `internal` is true for 500s. */
export interface MappedError {
  status: number;
  error: string | string[];
  extra: Record<string, unknown>;
  headers: Record<string, string>;
  internal: boolean;
}

function fastifyStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  const status = (err as { statusCode?: unknown }).statusCode;
  if (
    typeof code === 'string' &&
    code.startsWith('FST_') &&
    typeof status === 'number' &&
    status >= 400 &&
    status < 500
  ) {
    return status;
  }
  return undefined;
}

/**
 * Maps a thrown value to an HTTP status and the `error` field of the body. Inputs longer than
 * the model accepts are 400, except on TEI routes, where TEI answers 413.
 */
export function mapError(err: unknown, dialect: ErrorDialect = 'hf'): MappedError {
  const mapped = mapErrorStatus(err, dialect);
  // TGI answers every invalid request with 422.
  if (dialect === 'tgi' && mapped.status === 400) return { ...mapped, status: 422 };
  return mapped;
}

function mapErrorStatus(err: unknown, dialect: ErrorDialect): MappedError {
  const plain = (
    status: number,
    error: string | string[],
    headers: Record<string, string> = {},
  ): MappedError => ({
    status,
    error,
    extra: {},
    headers,
    internal: false,
  });
  if (err instanceof HttpError) {
    return { status: err.status, error: err.error, extra: err.extra, headers: err.headers, internal: false };
  }
  if (err instanceof InvalidParameterError) {
    return plain(400, [`${err.message}: received \`${err.field}\` in \`parameters\``]);
  }
  if (err instanceof ModelNotFoundError) return plain(404, err.message);
  if (err instanceof HfTasksError) {
    if (err.code === 'ERR_ABORTED')
      return plain(499, 'the client closed the connection; the call was cancelled');
    if (OVERLOAD_CODES.has(err.code)) return plain(429, err.message, { 'retry-after': '1' });
    if (TOO_LONG_CODES.has(err.code)) return plain(dialect === 'tei' ? 413 : 400, err.message);
    if (PAYLOAD_TOO_LARGE_CODES.has(err.code)) return plain(413, err.message);
    if (err instanceof InvalidInputError || INPUT_CODES.has(err.code)) return plain(400, err.message);
  }
  const fst = fastifyStatus(err);
  if (fst !== undefined) return plain(fst, (err as Error).message);
  return { status: 500, error: 'unknown error', extra: {}, headers: {}, internal: true };
}

const TEI_TYPES: Record<number, string> = {
  400: 'Validation',
  404: 'Validation',
  413: 'Validation',
  422: 'Tokenizer',
  429: 'Overloaded',
  503: 'Unhealthy',
};

const TGI_TYPES: Record<number, string> = {
  404: 'validation',
  413: 'validation',
  422: 'validation',
  429: 'overloaded',
  503: 'unhealthy',
};

const OPENAI_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'server_error',
};

/** The JSON body of a mapped error in a route's dialect, with `warnings` when there are some. */
export function errorBody(
  m: MappedError,
  dialect: ErrorDialect,
  warnings: string[] = [],
): Record<string, unknown> {
  const message = Array.isArray(m.error) ? m.error.join('; ') : m.error;
  let body: Record<string, unknown>;
  if (dialect === 'tei') {
    body = { error: message, error_type: TEI_TYPES[m.status] ?? 'Backend' };
  } else if (dialect === 'tgi') {
    body = { error: message, error_type: TGI_TYPES[m.status] ?? 'generation' };
  } else if (dialect === 'openai') {
    body = {
      error: {
        message,
        type: OPENAI_TYPES[m.status] ?? 'server_error',
        param: null,
        code: m.status === 404 ? 'model_not_found' : null,
      },
    };
  } else {
    body = { error: m.error, ...m.extra };
  }
  if (warnings.length > 0) body.warnings = [...new Set(warnings)].sort();
  return body;
}

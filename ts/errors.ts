/**
 * Typed errors. Every error the library raises on purpose is an `HfTasksError` with a stable
 * `code`; the HTTP server maps codes to statuses.
 */

/** Base class of every error raised on purpose by the library. */
export class HfTasksError extends Error {
  /** Stable machine-readable code, e.g. `ERR_DIMS`, `ERR_INVALID_ARGUMENT`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad input or parameters: the caller can fix the request (HTTP 400). */
export class InvalidInputError extends HfTasksError {}

/** A failure inside the native core (bad buffers, tokenizer files, codecs). */
export class NativeError extends HfTasksError {}

/**
 * A task parameter of the wrong type or outside its range (HTTP 400). `field` names the
 * parameter, as the Inference API's schema errors do ("...: received `top_k` in `parameters`").
 */
export class InvalidParameterError extends InvalidInputError {
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_PARAMETER', message, options);
    this.field = field;
  }
}

/** The requested execution device (e.g. CUDA) cannot be used on this machine. */
export class DeviceUnavailableError extends HfTasksError {}

/** A model whose files cannot be loaded, or whose network failed to run. */
export class ModelError extends HfTasksError {}

/** A model id, revision or file that does not exist locally, in the cache or on the hub (HTTP 404). */
export class ModelNotFoundError extends HfTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_MODEL_NOT_FOUND', message, options);
  }
}

/** The hub refused the download: a gated or private repository without a valid token (HTTP 401/403). */
export class GatedModelError extends HfTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_UNAUTHORIZED', message, options);
  }
}

/** Offline mode (`HF_HUB_OFFLINE=1`) and a needed file is not in the local cache. */
export class OfflineError extends HfTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_OFFLINE', message, options);
  }
}

/** A download failed: network error, unexpected HTTP status, truncated body or checksum mismatch. */
export class DownloadError extends HfTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DOWNLOAD', message, options);
  }
}

/** The engine's queue for a model is full; retry later (`ERR_QUEUE_FULL`, HTTP 429). */
export class QueueFullError extends HfTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_QUEUE_FULL', message, options);
  }
}

/** A worker thread died while it held the call; the call was not completed (`ERR_WORKER_CRASHED`). */
export class WorkerCrashedError extends HfTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WORKER_CRASHED', message, options);
  }
}

const NATIVE_CODE = /^ERR_[A-Z_]+$/;

/** Converts an error thrown by the native addon into a `NativeError`, keeping its code. */
export function fromNative(err: unknown): Error {
  if (err instanceof HfTasksError) return err;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && NATIVE_CODE.test(code)) {
      return new NativeError(code, err.message, { cause: err });
    }
    // napi-rs argument conversion failures (wrong JS type) arrive with napi status codes; a
    // null/undefined object argument arrives as a plain TypeError.
    if (typeof code === 'string' || err instanceof TypeError) {
      return new NativeError('ERR_INVALID_ARGUMENT', err.message, { cause: err });
    }
    return err;
  }
  return new NativeError('ERR_INTERNAL', String(err));
}

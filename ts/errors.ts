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

const NATIVE_CODE = /^ERR_[A-Z_]+$/;

/** Converts an error thrown by the native addon into a `NativeError`, keeping its code. */
export function fromNative(err: unknown): Error {
  if (err instanceof HfTasksError) return err;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && NATIVE_CODE.test(code)) {
      return new NativeError(code, err.message, { cause: err });
    }
    // napi-rs argument conversion failures (wrong JS type) arrive with napi status codes.
    if (typeof code === 'string') {
      return new NativeError('ERR_INVALID_ARGUMENT', err.message, { cause: err });
    }
    return err;
  }
  return new NativeError('ERR_INTERNAL', String(err));
}

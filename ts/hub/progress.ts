/**
 * Download progress: a bar on stderr when it is a terminal (never in logs or pipes), or a
 * caller-supplied callback.
 */
import cliProgress from 'cli-progress';

export interface ProgressEvent {
  /** What is being fetched, e.g. `owner/name/onnx/model.onnx`. */
  file: string;
  /** Bytes present so far (a resumed download starts above 0). */
  loaded: number;
  /** Expected size in bytes, when the server said. */
  total: number | undefined;
}

/** `false`: silent; `true` or unset: a bar on an interactive stderr; a function: called per chunk. */
export type ProgressOption = boolean | ((event: ProgressEvent) => void) | undefined;

export interface ProgressSink {
  update(loaded: number): void;
  done(): void;
}

const SILENT: ProgressSink = { update() {}, done() {} };

function megabytes(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

export function createProgress(
  option: ProgressOption,
  file: string,
  total: number | undefined,
  start: number,
): ProgressSink {
  if (typeof option === 'function') {
    option({ file, loaded: start, total });
    return {
      update: (loaded) => option({ file, loaded, total }),
      done() {},
    };
  }
  if (option === false || !process.stderr.isTTY || total === undefined || total <= 0) return SILENT;
  const bar = new cliProgress.SingleBar(
    {
      format: `${file} [{bar}] {percentage}% {loaded}/{size} ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: null,
      fps: 5,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, { loaded: megabytes(start), size: megabytes(total) });
  return {
    update: (loaded) => bar.update(loaded, { loaded: megabytes(loaded) }),
    done: () => bar.stop(),
  };
}

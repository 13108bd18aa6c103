/**
 * Runs one implementation of a benchmark script in a child process of its own (transformers.js
 * brings its own onnxruntime-node, which cannot share a process with ours): the script is run
 * again with `--impl NAME` and prints `RESULT <json>`. Each result is kept in
 * bench/results/<prefix>-<impl>.tmp until the run ends, so a rerun after a failure resumes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

/** The result of `script --impl impl ...args`, run in a child process (or kept from before). */
export function runImpl(script, prefix, impl, args) {
  const tmp = path.join(resultsDir, `${prefix}-${impl}.tmp`);
  if (existsSync(tmp)) return JSON.parse(readFileSync(tmp, 'utf8'));
  const argv = ['--import=tsx', script, '--impl', impl, ...args];
  const out = execFileSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`${impl}: no result`);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(tmp, line.slice(7));
  return JSON.parse(line.slice(7));
}

/** Removes the kept results of a finished run. */
export function clearImpls(prefix, impls) {
  for (const impl of impls) rmSync(path.join(resultsDir, `${prefix}-${impl}.tmp`), { force: true });
}

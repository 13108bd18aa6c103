/**
 * Validation of hub model ids and revisions. Both become parts of cache paths and URLs, so
 * anything that could escape a folder or change a URL's meaning is rejected here, before any
 * file system or network access (the HTTP server passes request values straight through).
 */
import { InvalidInputError } from '../errors.js';

/** One id segment: ASCII letters, digits, `_`, `-`, `.`; starts and ends with a letter, digit or `_`. */
const SEGMENT = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const MAX_ID_LENGTH = 96;
const MAX_REVISION_LENGTH = 255;
const REVISION_CHARS = /^[A-Za-z0-9_.\-/+]+$/;
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

function invalid(message: string): InvalidInputError {
  return new InvalidInputError('ERR_INVALID_MODEL_ID', message);
}

/**
 * Checks a hub model id (`owner/name`, or a legacy single `name`) with the rules of
 * `huggingface_hub.validate_repo_id`, restricted to ASCII. Throws `InvalidInputError`
 * (`ERR_INVALID_MODEL_ID`) for `..`, `--`, absolute paths, backslashes, percent-encoding,
 * whitespace, control or non-ASCII characters and more than one `/`.
 */
export function validateModelId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0) throw invalid('a model id must be a non-empty string');
  const shown = JSON.stringify(id.length > 120 ? `${id.slice(0, 120)}...` : id);
  if (id.length > MAX_ID_LENGTH)
    throw invalid(`model id ${shown} is longer than ${MAX_ID_LENGTH} characters`);
  if (id.includes('..') || id.includes('--')) {
    throw invalid(`model id ${shown} must not contain ".." or "--"`);
  }
  if (id.endsWith('.git')) throw invalid(`model id ${shown} must not end with ".git"`);
  const parts = id.split('/');
  if (parts.length > 2 || !parts.every((p) => SEGMENT.test(p))) {
    throw invalid(
      `model id ${shown} is not a valid hub id: expected "owner/name" made of ASCII letters, digits, "_", "-" and "."`,
    );
  }
  return id;
}

/**
 * Checks a revision (branch, tag, `refs/pr/N` or a commit hash). It names a file under
 * `refs/` in the cache and a URL segment, so `..`, empty segments, leading or trailing `/`,
 * backslashes, `%` and other odd characters are rejected.
 */
export function validateRevision(revision: unknown): string {
  if (typeof revision !== 'string' || revision.length === 0) {
    throw invalid('a revision must be a non-empty string');
  }
  const shown = JSON.stringify(revision.length > 120 ? `${revision.slice(0, 120)}...` : revision);
  if (revision.length > MAX_REVISION_LENGTH || !REVISION_CHARS.test(revision)) {
    throw invalid(`revision ${shown} has characters other than ASCII letters, digits and "_ . - / +"`);
  }
  const segments = revision.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.endsWith('.lock'))) {
    throw invalid(`revision ${shown} has an empty, ".", ".." or "*.lock" segment`);
  }
  return revision;
}

/** The cache folder name of a model repository: `models--owner--name`. */
export function repoFolderName(modelId: string): string {
  return `models--${modelId.split('/').join('--')}`;
}

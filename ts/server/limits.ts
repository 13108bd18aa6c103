/**
 * Limits on the work one request may ask for, checked before any of it starts: inputs per
 * request, zero-shot candidate labels, and input tokens (for zero-shot, premise tokens times
 * labels, since every premise runs once per label). Over a limit the answer is 413 with a
 * message naming the limit and the flag that raises it.
 */

import type { Tokenizer } from '../tokenizer.js';
import type { ServerConfig } from './config.js';
import { HttpError } from './errors.js';
import { collectStrings } from './payload.js';
import { countTokensOf } from './tokens.js';

type Limits = Pick<ServerConfig, 'maxInputs' | 'maxInputTokens' | 'maxCandidateLabels'>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Inputs in a request: the length of a list input, the sentences of a sentence-similarity
 * input, else 1.
 */
export function inputCount(inputs: unknown): number {
  if (Array.isArray(inputs)) return inputs.length;
  if (isObject(inputs) && Array.isArray(inputs.sentences)) return inputs.sentences.length;
  return 1;
}

/** Candidate labels of a zero-shot request: a list, or a comma-separated string. */
export function candidateLabelCount(parameters: Record<string, unknown>): number {
  const labels = parameters.candidate_labels;
  if (Array.isArray(labels)) return labels.length;
  if (typeof labels === 'string') return labels.split(',').filter((l) => l.trim() !== '').length;
  return 0;
}

function tooMuch(what: string, n: number, limit: number, flag: string, key: string): HttpError {
  return new HttpError(
    413,
    `the request holds ${n} ${what}; this server accepts at most ${limit} per request (raise it with ${flag} or the \`${key}\` setting)`,
  );
}

/** Checks the counts that need no tokenizer (inputs, candidate labels). */
export function checkCounts(
  limits: Limits,
  task: string,
  inputs: unknown,
  parameters: Record<string, unknown>,
): void {
  const n = inputCount(inputs);
  if (n > limits.maxInputs) throw tooMuch('inputs', n, limits.maxInputs, '--max-inputs', 'maxInputs');
  if (task === 'zero-shot-classification') {
    const labels = candidateLabelCount(parameters);
    if (labels > limits.maxCandidateLabels) {
      throw tooMuch(
        'candidate labels',
        labels,
        limits.maxCandidateLabels,
        '--max-candidate-labels',
        'maxCandidateLabels',
      );
    }
  }
}

/**
 * Counts the request's input tokens (special tokens included, before any truncation) and
 * checks them against the limit; resolves with the count (0 without a tokenizer).
 */
export async function checkTokens(
  limits: Limits,
  tokenizer: Tokenizer | null,
  task: string,
  inputs: unknown,
  parameters: Record<string, unknown>,
): Promise<number> {
  if (!tokenizer) return 0;
  const texts = collectStrings(inputs);
  if (texts.length === 0) return 0;
  let tokens: number;
  try {
    tokens = await countTokensOf(tokenizer, texts);
  } catch {
    // Text the tokenizer rejects is reported by the task with its own message.
    return 0;
  }
  const runs = task === 'zero-shot-classification' ? Math.max(1, candidateLabelCount(parameters)) : 1;
  if (tokens * runs > limits.maxInputTokens) {
    throw tooMuch(
      runs > 1 ? `input tokens (${tokens} tokens x ${runs} candidate labels)` : 'input tokens',
      tokens * runs,
      limits.maxInputTokens,
      '--max-input-tokens',
      'maxInputTokens',
    );
  }
  return tokens;
}

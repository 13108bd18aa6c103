/**
 * Strict validation of task inputs and parameters, in the spirit of the Inference API's
 * schema validators: `top_k: "3"` or `3.5` is rejected, unknown enum values list the valid
 * ones. Every failure is an `InvalidParameterError` (parameters) or `InvalidInputError`
 * (inputs), both HTTP 400.
 */
import { InvalidInputError, InvalidParameterError } from '../errors.js';

/** Code of every input error raised by the tasks. */
export const INVALID_INPUT = 'ERR_INVALID_INPUT';

/** An `InvalidInputError` with the task input code. */
export function invalidInput(message: string): InvalidInputError {
  return new InvalidInputError(INVALID_INPUT, message);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** The parameters object of a call: absent/null -> {}, anything but a plain object -> error. */
export function parametersObject(parameters: unknown): Record<string, unknown> {
  if (parameters === undefined || parameters === null) return {};
  if (typeof parameters !== 'object' || Array.isArray(parameters)) {
    throw new InvalidParameterError(
      'parameters',
      `\`parameters\` must be an object (got ${describe(parameters)})`,
    );
  }
  return parameters as Record<string, unknown>;
}

/** Whether a parameter was sent (a key present with a value other than undefined). */
export function has(params: Record<string, unknown>, name: string): boolean {
  return Object.hasOwn(params, name) && params[name] !== undefined;
}

export interface IntRange {
  min?: number;
  max?: number;
}

/** A strict integer (a JS number with no fraction; not a string, not a boolean). */
export function intParam(
  params: Record<string, unknown>,
  name: string,
  fallback: number,
  range?: IntRange,
): number;
export function intParam(
  params: Record<string, unknown>,
  name: string,
  fallback: number | undefined,
  range?: IntRange,
): number | undefined;
export function intParam(
  params: Record<string, unknown>,
  name: string,
  fallback: number | undefined,
  range: IntRange = {},
): number | undefined {
  if (!has(params, name)) return fallback;
  return checkInt(name, params[name], range);
}

/** Validates a value as a strict integer within `range`. */
export function checkInt(name: string, v: unknown, range: IntRange = {}): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new InvalidParameterError(name, `\`${name}\` must be an integer (got ${describe(v)})`);
  }
  if (range.min !== undefined && v < range.min) {
    throw new InvalidParameterError(
      name,
      `\`${name}\` must be greater than or equal to ${range.min} (got ${v})`,
    );
  }
  if (range.max !== undefined && v > range.max) {
    throw new InvalidParameterError(
      name,
      `\`${name}\` must be less than or equal to ${range.max} (got ${v})`,
    );
  }
  return v;
}

/** A strict boolean. */
export function boolParam(params: Record<string, unknown>, name: string, fallback: boolean): boolean {
  if (!has(params, name)) return fallback;
  const v = params[name];
  if (typeof v !== 'boolean') {
    throw new InvalidParameterError(name, `\`${name}\` must be a boolean (got ${describe(v)})`);
  }
  return v;
}

/** A string. */
export function stringParam(params: Record<string, unknown>, name: string, fallback: string): string;
export function stringParam(
  params: Record<string, unknown>,
  name: string,
  fallback: string | undefined,
): string | undefined;
export function stringParam(
  params: Record<string, unknown>,
  name: string,
  fallback: string | undefined,
): string | undefined {
  if (!has(params, name)) return fallback;
  const v = params[name];
  if (typeof v !== 'string') {
    throw new InvalidParameterError(name, `\`${name}\` must be a string (got ${describe(v)})`);
  }
  return checkText(name, v);
}

/** A case-insensitive enum value; returns the canonical (listed) spelling. */
export function enumParam<T extends string>(
  params: Record<string, unknown>,
  name: string,
  values: readonly T[],
  fallback: T,
): T;
export function enumParam<T extends string>(
  params: Record<string, unknown>,
  name: string,
  values: readonly T[],
  fallback: T | undefined,
): T | undefined;
export function enumParam<T extends string>(
  params: Record<string, unknown>,
  name: string,
  values: readonly T[],
  fallback: T | undefined,
): T | undefined {
  if (!has(params, name)) return fallback;
  const v = params[name];
  if (typeof v === 'string') {
    const found = values.find((x) => x.toLowerCase() === v.toLowerCase());
    if (found !== undefined) return found;
  }
  throw new InvalidParameterError(
    name,
    `\`${name}\` must be one of ${values.map((x) => `"${x}"`).join(', ')} (got ${describe(v)})`,
  );
}

/** A list of strings; with `allowString`, a single string counts as a one-element list. */
export function stringListParam(
  params: Record<string, unknown>,
  name: string,
  fallback: string[],
  opts: { allowString?: boolean } = {},
): string[] {
  if (!has(params, name)) return fallback;
  const v = params[name];
  if (typeof v === 'string' && opts.allowString) return [checkText(name, v)];
  if (!Array.isArray(v)) {
    throw new InvalidParameterError(
      name,
      `\`${name}\` must be a list of strings${opts.allowString ? ' or a string' : ''} (got ${describe(v)})`,
    );
  }
  return v.map((x, i) => {
    if (typeof x !== 'string') {
      throw new InvalidParameterError(name, `\`${name}[${i}]\` must be a string (got ${describe(x)})`);
    }
    return checkText(`${name}[${i}]`, x);
  });
}

/**
 * Checks that a string is well-formed Unicode. A lone UTF-16 surrogate cannot be represented
 * in the native core (Rust strings are UTF-8) and would silently become U+FFFD, so it is
 * rejected with a 400 instead.
 */
export function checkText(name: string, s: string): string {
  const i = firstLoneSurrogate(s);
  if (i >= 0) {
    throw invalidInput(
      `\`${name}\` contains a lone UTF-16 surrogate (U+${s.charCodeAt(i).toString(16).toUpperCase()} at index ${i}); text must be valid Unicode`,
    );
  }
  return s;
}

function firstLoneSurrogate(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return i;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return -1;
}

/** Validates a text input (`inputs` or one of its items). */
export function textInput(v: unknown, name = 'inputs'): string {
  if (typeof v !== 'string') {
    throw invalidInput(`\`${name}\` must be a string (got ${describe(v)})`);
  }
  return checkText(name, v);
}

/**
 * Splits `inputs` into the list of items and whether the caller sent a single item (the
 * result is then unwrapped). An array is a batch; `item` validates each element.
 */
export function batchOf<T>(
  inputs: unknown,
  item: (v: unknown, name: string) => T,
  opts: { emptyMessage?: string } = {},
): { items: T[]; single: boolean } {
  if (Array.isArray(inputs)) {
    if (inputs.length === 0) throw invalidInput(opts.emptyMessage ?? 'At least one input is required.');
    return { items: inputs.map((v, i) => item(v, `inputs[${i}]`)), single: false };
  }
  return { items: [item(inputs, 'inputs')], single: true };
}

export { describe as describeValue };

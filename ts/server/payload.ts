/**
 * Request payload normalisation, as the Inference API does it: the body is decoded as UTF-8;
 * JSON with an `inputs` key gives `inputs`, `parameters` and `options`; other JSON is the
 * input itself (a number becomes its string); a body that is not JSON is a raw text input.
 * Hostile shapes (invalid UTF-8, deep nesting, `__proto__` keys, lone surrogates) are 400s.
 *
 * Binary bodies (images, audio): a body whose content type is `image/*`, `audio/*`, `video/*`
 * or `application/octet-stream` (or that has no content type and is not UTF-8 text) is the
 * input itself, as a Buffer: `{inputs: <Buffer>}` with no parameters. With parameters, clients
 * send JSON whose `inputs` is the base64 of the file. The body-size limit (`bodyLimit`, 413)
 * applies to both.
 */
import { badRequest } from './errors.js';

/** Deepest JSON nesting accepted (objects and arrays). */
export const MAX_JSON_DEPTH = 32;

/** The legacy `options` object (or its header equivalents). */
export interface RequestOptions {
  useCache: boolean;
  waitForModel: boolean;
}

export interface InferencePayload {
  inputs: unknown;
  parameters: Record<string, unknown>;
  options: RequestOptions;
  /** Server warnings about the request (unknown options...), returned on object bodies. */
  warnings: string[];
}

const KNOWN_OPTIONS = new Set(['use_cache', 'wait_for_model', 'use_gpu', 'dont_load_model']);
const decoder = new TextDecoder('utf-8', { fatal: true });
/** In `u` mode a surrogate range matches only surrogates that are not part of a pair. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function mimeOf(contentType: string | undefined): string {
  return contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Content types whose body is a binary file, passed to the task as a Buffer `inputs`. */
export function isBinaryType(contentType: string | undefined): boolean {
  const mime = mimeOf(contentType);
  return (
    mime === 'application/octet-stream' ||
    mime.startsWith('image/') ||
    mime.startsWith('audio/') ||
    mime.startsWith('video/')
  );
}

function isJsonType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const mime = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return mime === 'application/json' || mime.endsWith('+json');
}

/**
 * Decodes a request body. A binary content type (`isBinaryType`) gives the bytes themselves (a
 * Buffer input); a JSON content type must hold valid JSON; any other body is parsed as JSON
 * when it is JSON and is otherwise a raw text input. A body without a content type that is not
 * UTF-8 is binary too.
 */
export function decodeBody(body: Buffer | undefined, contentType: string | undefined): unknown {
  if (body === undefined || body.length === 0)
    throw badRequest(
      isBinaryType(contentType)
        ? 'the request body is empty: send the file bytes (0 bytes received)'
        : 'the request body is empty: send {"inputs": ...}',
    );
  if (isBinaryType(contentType)) return body;
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    if (mimeOf(contentType) === '') return body;
    throw badRequest('the request body is not valid UTF-8');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (isJsonType(contentType)) throw badRequest(`invalid JSON body: ${(err as Error).message}`);
    return text;
  }
  checkJsonValue(value);
  return value;
}

/**
 * Walks a parsed JSON value without recursion: rejects nesting deeper than `MAX_JSON_DEPTH`,
 * `__proto__` keys and strings that are not well-formed Unicode (lone surrogates, which the
 * native core cannot represent).
 */
export function checkJsonValue(value: unknown): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const top = stack.pop();
    if (!top) break;
    const [v, depth] = top;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v))
        throw badRequest(
          'the request holds a string with a lone UTF-16 surrogate; text must be valid Unicode',
        );
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_JSON_DEPTH)
      throw badRequest(`the request JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
    if (Array.isArray(v)) {
      for (const x of v) stack.push([x, depth + 1]);
      continue;
    }
    for (const [k, x] of Object.entries(v)) {
      if (k === '__proto__') throw badRequest('the request JSON holds a "__proto__" key');
      if (LONE_SURROGATE.test(k)) throw badRequest('the request holds a key with a lone UTF-16 surrogate');
      stack.push([x, depth + 1]);
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function headerFlag(value: string | string[] | undefined): boolean | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === '1' || s === 'yes') return true;
  if (s === 'false' || s === '0' || s === 'no') return false;
  return undefined;
}

/**
 * Splits a decoded body into inputs, parameters and options. Options come from the body's
 * `options` object, else from the `x-use-cache` / `x-wait-for-model` headers.
 */
export function normalizePayload(
  value: unknown,
  headers: Record<string, string | string[] | undefined>,
): InferencePayload {
  const warnings: string[] = [];
  let inputs: unknown = value;
  let parameters: Record<string, unknown> = {};
  let rawOptions: Record<string, unknown> = {};
  if (typeof value === 'number') inputs = String(value);
  else if (isObject(value) && Object.hasOwn(value, 'inputs')) {
    inputs = value.inputs;
    if (value.parameters !== undefined && value.parameters !== null) {
      if (!isObject(value.parameters)) throw badRequest('`parameters` must be an object');
      parameters = value.parameters;
    }
    if (value.options !== undefined && value.options !== null) {
      if (!isObject(value.options)) throw badRequest('`options` must be an object');
      rawOptions = value.options;
    }
  }
  for (const k of Object.keys(rawOptions)) {
    if (!KNOWN_OPTIONS.has(k)) warnings.push(`unknown option \`${k}\` was ignored`);
  }
  const bodyFlag = (name: string): boolean | undefined => {
    const v = rawOptions[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw badRequest(`\`options.${name}\` must be a boolean`);
    return v;
  };
  const useCache = bodyFlag('use_cache') ?? headerFlag(headers['x-use-cache']) ?? true;
  const waitForModel = bodyFlag('wait_for_model') ?? headerFlag(headers['x-wait-for-model']) ?? false;
  bodyFlag('use_gpu');
  bodyFlag('dont_load_model');
  if (inputs === undefined || inputs === null) throw badRequest('`inputs` is required');
  return { inputs, parameters, options: { useCache, waitForModel }, warnings };
}

/** Code points of every string in `inputs` (arrays and object values included), as the API counts them. */
export function countCharacters(inputs: unknown): number {
  let n = 0;
  const stack: unknown[] = [inputs];
  while (stack.length > 0) {
    const v = stack.pop();
    if (ArrayBuffer.isView(v)) continue;
    if (typeof v === 'string') {
      for (const _ of v) n++;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (isObject(v)) {
      for (const x of Object.values(v)) stack.push(x);
    }
  }
  return n;
}

/** The strings of `inputs`, in order (for token counting). */
export function collectStrings(inputs: unknown, limit = 10_000): string[] {
  const out: string[] = [];
  const stack: unknown[] = [inputs];
  while (stack.length > 0 && out.length < limit) {
    const v = stack.pop();
    if (ArrayBuffer.isView(v)) continue;
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    else if (isObject(v)) {
      const vals = Object.values(v);
      for (let i = vals.length - 1; i >= 0; i--) stack.push(vals[i]);
    }
  }
  return out;
}

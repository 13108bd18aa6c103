/**
 * The result cache behind `options.use_cache` / `x-use-cache`: an LRU of serialized response
 * bodies keyed on a hash of the whole normalised request (route, model, task, body, and the
 * headers that shape the answer). Bounded by entries and by bytes; a request with
 * use_cache=false neither reads nor writes it.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { CacheConfig } from './config.js';

/** A cached response: the JSON body as sent and the input size it was computed for. */
export interface CachedResult {
  body: string;
  characters: number;
}

export class ResultCache {
  readonly #lru: LRUCache<string, CachedResult> | null;

  constructor(config: CacheConfig) {
    this.#lru =
      config.maxEntries > 0
        ? new LRUCache<string, CachedResult>({
            max: config.maxEntries,
            maxSize: config.maxBytes,
            sizeCalculation: (v) => Math.max(1, v.body.length * 2),
            ...(config.ttlMs > 0 ? { ttl: config.ttlMs } : {}),
          })
        : null;
  }

  /** Whether the cache stores anything at all. */
  get enabled(): boolean {
    return this.#lru !== null;
  }

  /** Number of cached responses. */
  get size(): number {
    return this.#lru?.size ?? 0;
  }

  /**
   * The key of a request: a SHA-256 over its route, model and task and the whole normalised
   * request (`request`: the body as decoded, its normalised inputs and parameters, and whatever
   * else shapes the answer, such as headers that choose an output form). Object keys are
   * sorted, so the key does not depend on the order the client wrote them in.
   */
  static key(route: string, model: string, task: string, request: unknown): string {
    return createHash('sha256')
      .update(route)
      .update('\0')
      .update(model)
      .update('\0')
      .update(task)
      .update('\0')
      .update(canonicalJson(request))
      .digest('base64url');
  }

  get(key: string): CachedResult | undefined {
    return this.#lru?.get(key);
  }

  set(key: string, value: CachedResult): void {
    this.#lru?.set(key, value);
  }

  clear(): void {
    this.#lru?.clear();
  }
}

/** A piece of JSON text already written (a bracket, a comma or a key). */
class Raw {
  constructor(readonly text: string) {}
}

/**
 * JSON text of a value with object keys sorted at every level (`undefined` members dropped, as
 * `JSON.stringify` does). Iterative, so deep values cannot overflow the stack.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v instanceof Raw) {
      out.push(v.text);
      continue;
    }
    if (typeof v !== 'object' || v === null) {
      out.push(JSON.stringify(v) ?? 'null');
      continue;
    }
    if (ArrayBuffer.isView(v)) {
      // Binary inputs (a raw image or audio body) key by their digest.
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      out.push(JSON.stringify({ $bytes: createHash('sha256').update(bytes).digest('base64url') }));
      continue;
    }
    const parts: unknown[] = [];
    if (Array.isArray(v)) {
      parts.push(new Raw('['));
      v.forEach((x, i) => {
        if (i > 0) parts.push(new Raw(','));
        parts.push(x === undefined ? null : x);
      });
      parts.push(new Raw(']'));
    } else {
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      parts.push(new Raw('{'));
      keys.forEach((k, i) => {
        parts.push(new Raw(`${i > 0 ? ',' : ''}${JSON.stringify(k)}:`));
        parts.push(obj[k]);
      });
      parts.push(new Raw('}'));
    }
    for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]);
  }
  return out.join('');
}

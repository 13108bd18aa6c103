/**
 * The result cache behind `options.use_cache` / `x-use-cache`: an LRU of serialized response
 * bodies keyed on a hash of (route, model, task, inputs, parameters). Bounded by entries and by
 * bytes; a request with use_cache=false neither reads nor writes it.
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

  /** The key of a request: a SHA-256 over its route, model, task and canonical payload. */
  static key(route: string, model: string, task: string, inputs: unknown, parameters: unknown): string {
    return createHash('sha256')
      .update(route)
      .update('\0')
      .update(model)
      .update('\0')
      .update(task)
      .update('\0')
      .update(JSON.stringify([inputs, parameters ?? {}]))
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

/**
 * The state every route shares: configuration, served models, result cache and metrics. Also
 * the per-request fields the routes fill for the error handler and the metrics hook.
 */
import type { ResultCache } from './cache.js';
import type { ServerConfig } from './config.js';
import type { ErrorDialect } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import type { ModelRegistry } from './registry.js';

export interface ServerContext {
  readonly config: ServerConfig;
  readonly registry: ModelRegistry;
  readonly cache: ResultCache;
  readonly metrics: ServerMetrics;
  /** `x-compute-type`: `cpu` or `gpu`. */
  readonly computeType: 'cpu' | 'gpu';
}

/** Route-level options (Fastify `config`). */
export interface RouteConfig {
  /** Error body dialect of the route. */
  dialect: ErrorDialect;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Served model id the request addressed (metrics label), once known. */
    hfModel: string;
    /** Warnings collected while serving, returned on object bodies. */
    hfWarnings: string[];
    /** Error dialect chosen by the handler, over the route's (e.g. OpenAI paths under `/models/{id}`). */
    hfDialect: ErrorDialect | null;
  }
}

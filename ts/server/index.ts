/**
 * The HTTP server's public surface: build a server from a configuration, or start one the way
 * `hf-tasks serve` does.
 */
export { createServer, defaultLoader, HfTasksServer, type ServerOverrides } from './app.js';
export {
  type CacheConfig,
  type ConfigOverrides,
  DEFAULT_CONFIG,
  envOverrides,
  type ModelSpec,
  parseModelFlag,
  readConfigFile,
  resolveConfig,
  type ServerConfig,
} from './config.js';
export { HttpError } from './errors.js';
export type { PipelineLoader, ServedPipe } from './registry.js';
export {
  DEFAULT_EMBEDDING_MODEL,
  DEFAULT_NER_MODEL,
  defaultModelSpecs,
  handleSignals,
  startServer,
} from './start.js';

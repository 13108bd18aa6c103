/**
 * Starting and stopping the server process: the default models when none are configured,
 * listening, loading models in the background, and a graceful shutdown on SIGTERM / SIGINT
 * (stop accepting, drain in-flight requests, free the models, exit 0).
 */
import { DEFAULT_MODELS } from '../pipeline.js';
import { createServer, type HfTasksServer, type ServerOverrides } from './app.js';
import { type ModelSpec, mergeModelSpecs, type ServerConfig } from './config.js';

/** The sentence-embedding model served by default (feature-extraction and sentence-similarity). */
export const DEFAULT_EMBEDDING_MODEL = 'sentence-transformers/all-MiniLM-L6-v2';
/** The token-classification model served by default (a real PII NER model). */
export const DEFAULT_NER_MODEL = 'nationaldesignstudio/rampart';

/** The chat model served by default (text-generation and conversational). */
export const DEFAULT_CHAT_MODEL = 'HuggingFaceTB/SmolLM2-135M-Instruct';

/** The speech-recognition model served by default (Whisper tiny.en, English only). */
export const DEFAULT_ASR_MODEL = 'openai/whisper-tiny.en';

/** The models served when the configuration names none. */
export function defaultModelSpecs(): ModelSpec[] {
  const defaults = DEFAULT_MODELS as Readonly<Record<string, string | null | undefined>>;
  const embedding = defaults['feature-extraction'] ?? DEFAULT_EMBEDDING_MODEL;
  const similarity = defaults['sentence-similarity'] ?? embedding;
  const ner = defaults['token-classification'] ?? DEFAULT_NER_MODEL;
  const chat = defaults['text-generation'] ?? DEFAULT_CHAT_MODEL;
  const conversational = defaults.conversational ?? chat;
  const asr = defaults['automatic-speech-recognition'] ?? DEFAULT_ASR_MODEL;
  return mergeModelSpecs([
    { id: embedding, tasks: ['feature-extraction'] },
    { id: similarity, tasks: ['sentence-similarity'] },
    { id: ner, tasks: ['token-classification'] },
    { id: chat, tasks: ['text-generation'] },
    { id: conversational, tasks: ['conversational'] },
    { id: asr, tasks: ['automatic-speech-recognition'] },
  ]);
}

/** Builds the server, listens, and starts loading the models (requests get 503 meanwhile). */
export async function startServer(
  config: ServerConfig,
  overrides: ServerOverrides = {},
): Promise<HfTasksServer> {
  const effective = config.models.length > 0 ? config : { ...config, models: defaultModelSpecs() };
  const server = await createServer(effective, overrides);
  const url = await server.listen();
  const ids = effective.models.map((m) => `${m.id} (${m.tasks.join(', ') || 'task from its files'})`);
  server.app.log.info({ url, models: effective.models.map((m) => m.id) }, `hf-tasks listening on ${url}`);
  if (effective.preload) {
    server.app.log.info(`loading ${ids.length} model(s): ${ids.join('; ')}`);
    void server.preload();
  }
  return server;
}

/** How long a shutdown that ran out of time still waits for the models to be freed. */
const FREE_MODELS_GRACE_MS = 5000;

/**
 * Shuts down gracefully on SIGTERM and SIGINT: stops accepting connections, waits for
 * in-flight requests (at most `timeoutMs`), frees the models and exits 0. On timeout the models
 * are freed all the same (a GPU session left open at exit can crash the process), for at most
 * a few seconds more, and the exit code is 1. A second signal exits at once.
 */
export function handleSignals(
  server: HfTasksServer,
  timeoutMs: number,
  exit: (code: number) => void = process.exit,
): void {
  let closing = false;
  let exited = false;
  const exitOnce = (code: number) => {
    if (exited) return;
    exited = true;
    exit(code);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      server.app.log.warn(`${signal} again: exiting now`);
      exitOnce(1);
      return;
    }
    closing = true;
    server.app.log.info(`${signal}: draining in-flight requests, then exiting`);
    const timer = setTimeout(() => {
      server.app.log.error(`shutdown did not finish within ${timeoutMs} ms: freeing the models`);
      const grace = setTimeout(() => exitOnce(1), FREE_MODELS_GRACE_MS);
      grace.unref();
      void server.ctx.registry
        .dispose()
        .catch(() => undefined)
        .finally(() => {
          clearTimeout(grace);
          exitOnce(1);
        });
    }, timeoutMs);
    timer.unref();
    server.close().then(
      () => {
        clearTimeout(timer);
        server.app.log.info('shut down cleanly');
        exitOnce(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        server.app.log.error({ err }, 'shutdown failed');
        exitOnce(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

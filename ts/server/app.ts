/**
 * The HTTP server: a Fastify app with the Inference API, TEI and OpenAI routes over the
 * served models, the result cache and Prometheus metrics. `createServer` builds it (the
 * pipeline loader and model resolution can be swapped, e.g. to gate a load in a test);
 * `listen` binds it; `close` stops accepting, drains in-flight requests and frees the models.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { createGenerator } from '../generation/engine.js';
import { type PipelineOptions, pipeline, seq2seqFilesBeside, supportedTasks } from '../pipeline.js';
import { isGpuDevice } from '../runtime/device.js';
import { engineRunnerFactory } from '../runtime/engine.js';
import type { RunnerFactory, RunnerFactoryOptions } from '../runtime/model.js';
import { openFolderTokenizer } from '../runtime/vocab-tokenizer.js';
import { TASK_ALIASES } from '../types/tasks.js';
import { ResultCache } from './cache.js';
import type { ServerConfig } from './config.js';
import type { RouteConfig, ServerContext } from './context.js';
import { errorBody, mapError } from './errors.js';
import { computeHeaders } from './execute.js';
import { GENERATION_TASKS } from './generation.js';
import { installCors, RouteTable, requestPath } from './http.js';
import { loggerOptions } from './logging.js';
import { ServerMetrics } from './metrics.js';
import { resolveServedModel } from './models.js';
import { ModelRegistry, type PipelineLoader, type RegistryDeps, type ServedPipe } from './registry.js';
import { generateRoutes } from './routes/generate.js';
import { inferenceRoutes } from './routes/inference.js';
import { openaiRoutes } from './routes/openai.js';
import { openaiGenerationRoutes } from './routes/openai-chat.js';
import { opsRoutes } from './routes/ops.js';
import { teiRoutes } from './routes/tei.js';
import { SharedRunners } from './runners.js';

/** Replaceable parts of the server (defaults: the real pipeline, hub cache and tokenizer). */
export interface ServerOverrides {
  loader?: PipelineLoader;
  resolve?: RegistryDeps['resolve'];
  /** A Fastify logger option, replacing the one built from `config.logLevel`. */
  logger?: FastifyServerOptions['logger'];
}

function canonicalTask(task: string): string {
  return Object.hasOwn(TASK_ALIASES, task) ? TASK_ALIASES[task as keyof typeof TASK_ALIASES] : task;
}

/**
 * The real loader: `pipeline(task, source, {device, cacheDir, offline})` with the networks on
 * the throughput engine (worker threads, dynamic batching), whose counters go to `metrics`.
 * Pipelines of one model file share its runner (one session per worker, whatever the number of
 * tasks served from it).
 */
export function defaultLoader(
  config: ServerConfig,
  metrics?: ServerMetrics,
): PipelineLoader & { readonly openRunners: () => number } {
  const engine = engineRunnerFactory({
    ...(config.workers !== undefined ? { workers: config.workers } : {}),
    batching: config.batching,
  });
  // The model id whose pipeline is opening a runner (the factory is called synchronously).
  let opening = '';
  const runners = new SharedRunners<RunnerFactoryOptions>(async (onnxPath, runnerOptions) => {
    const modelId = opening;
    const runner = await engine(onnxPath, runnerOptions);
    metrics?.trackEngine(modelId, runner);
    return runner;
  });
  const generators = new SharedRunners<RunnerFactoryOptions>((onnxPath, { padTokenId: _pad, ...session }) => {
    const seq2seq = seq2seqFilesBeside(onnxPath);
    return createGenerator(onnxPath, {
      ...session,
      inline: config.workers === 0,
      ...(config.deviceCache === false && { deviceCache: false }),
      ...(seq2seq !== undefined && { seq2seq }),
    });
  });
  const load: PipelineLoader = async (task, source, modelId) => {
    const createRunner: RunnerFactory = (onnxPath, runnerOptions) => {
      opening = modelId;
      return runners.acquire(onnxPath, runnerOptions);
    };
    const options: PipelineOptions = {
      device: config.device,
      offline: config.offline,
      progress: false,
      // A request names no server file: image strings are base64 or data: URLs only.
      vision: { localFiles: false, maxPixels: config.maxImagePixels },
      audio: { localFiles: false, maxDurationSeconds: config.maxAudioSeconds },
    };
    if (GENERATION_TASKS.has(task)) {
      // Decoders run on the generation engine (its own worker, continuous batching), one per
      // model file whatever the number of generation tasks it serves.
      options.generation = { maxNewTokensLimit: config.maxNewTokens };
      options.createRunner = (onnxPath, runnerOptions) => generators.acquire(onnxPath, runnerOptions);
    } else if (task === 'automatic-speech-recognition') {
      // A speech encoder-decoder (Whisper) decodes on the generation engine.
      options.generation = { maxNewTokensLimit: config.maxNewTokens };
      options.createRunner = (onnxPath, runnerOptions) =>
        seq2seqFilesBeside(onnxPath) === undefined
          ? createRunner(onnxPath, runnerOptions)
          : generators.acquire(onnxPath, runnerOptions);
    } else options.createRunner = createRunner;
    if (config.cacheDir !== undefined) options.cacheDir = config.cacheDir;
    const pipe = await (pipeline as (t: string, m: string, o: PipelineOptions) => Promise<unknown>)(
      task,
      source,
      options,
    );
    return pipe as ServedPipe;
  };
  // Runners open now: one per model file and options, whatever the number of tasks.
  return Object.assign(load, { openRunners: () => runners.size + generators.size });
}

export class HfTasksServer {
  constructor(
    readonly app: FastifyInstance,
    readonly ctx: ServerContext,
  ) {}

  /** Binds the configured host and port; resolves with the base URL. */
  async listen(): Promise<string> {
    await this.app.listen({ host: this.ctx.config.host, port: this.ctx.config.port });
    const addr = this.app.server.address();
    if (addr === null || typeof addr === 'string') return String(addr);
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}`;
  }

  /** The bound port (after `listen`). */
  get port(): number {
    const addr = this.app.server.address();
    return addr !== null && typeof addr === 'object' ? addr.port : 0;
  }

  /** Starts loading every model in the background (the registry answers 503 meanwhile). */
  preload(): Promise<void> {
    return this.ctx.registry.preload();
  }

  /** Stops accepting connections, waits for in-flight requests, then frees the models. */
  async close(): Promise<void> {
    await this.app.close();
    await this.ctx.registry.dispose();
  }
}

/** Builds the server for a configuration (models are resolved, not loaded). */
export async function createServer(
  config: ServerConfig,
  overrides: ServerOverrides = {},
): Promise<HfTasksServer> {
  const app = Fastify({
    logger: overrides.logger ?? loggerOptions(config.logLevel),
    bodyLimit: config.bodyLimit,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 256 },
    // Malformed URLs (bad percent-encoding) are answered before routing: same JSON shape.
    frameworkErrors: (err, _request, reply) => {
      (reply as unknown as FastifyReply)
        .code(400)
        .type('application/json; charset=utf-8')
        .send(JSON.stringify({ error: err.message }));
    },
  });
  const metrics = new ServerMetrics();
  const registry = await ModelRegistry.create(config.models, {
    loader: overrides.loader ?? defaultLoader(config, metrics),
    resolve:
      overrides.resolve ??
      ((spec) =>
        resolveServedModel(spec, {
          ...(config.cacheDir !== undefined ? { cacheDir: config.cacheDir } : {}),
          offline: config.offline,
          mirror: config.provision,
          log: app.log,
        })),
    openTokenizer: (dir) => openFolderTokenizer(dir),
    supportedTasks: supportedTasks(),
    canonicalTask,
    maxQueue: config.maxQueue,
    metrics,
    log: app.log,
  });
  const ctx: ServerContext = {
    config,
    registry,
    cache: new ResultCache(config.cache),
    metrics,
    computeType: isGpuDevice(config.device) ? 'gpu' : 'cpu',
  };

  app.decorateRequest('hfModel', '');
  app.decorateRequest('hfWarnings', null as unknown as string[]);
  app.decorateRequest('hfDialect', null);
  app.addHook('onRequest', async (request) => {
    request.hfWarnings = [];
    request.hfDialect = null;
  });
  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      route: request.routeOptions.url ?? 'unmatched',
      model: request.hfModel,
      status: String(reply.statusCode),
    };
    metrics.requests.inc(labels);
    metrics.requestDuration.observe(labels, reply.elapsedTime / 1000);
  });

  // Every body arrives as bytes: the routes decode it the way the Inference API does (JSON,
  // else a raw text input), so Fastify's JSON parser is replaced by a catch-all.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err, request, reply) => {
    const dialect =
      request.hfDialect ?? (request.routeOptions.config as Partial<RouteConfig> | undefined)?.dialect ?? 'hf';
    const mapped = mapError(err, dialect);
    if (mapped.internal) request.log.error({ err }, 'request failed');
    else if (mapped.status >= 500) request.log.warn({ err }, mapped.error.toString());
    computeHeaders(ctx, reply);
    for (const [k, v] of Object.entries(mapped.headers)) reply.header(k, v);
    return reply
      .code(mapped.status)
      .type('application/json; charset=utf-8')
      .send(errorBody(mapped, dialect, request.hfWarnings ?? []));
  });
  // A known path asked with another method is a 405 naming the methods it serves.
  app.setNotFoundHandler((request, reply) => {
    const path = requestPath(request);
    const allowed = routes.allowed(path);
    if (allowed.length > 0) {
      const allow = config.cors !== false ? [...allowed, 'OPTIONS'] : allowed;
      return reply
        .code(405)
        .header('allow', allow.join(', '))
        .send({ error: `Method ${request.method} is not allowed on ${path}; allowed: ${allow.join(', ')}` });
    }
    return reply.code(404).send({ error: `Route ${request.method} ${path} not found` });
  });

  const routes = new RouteTable();
  routes.track(app);
  installCors(app, config.cors, routes);
  inferenceRoutes(app, ctx);
  teiRoutes(app, ctx);
  openaiRoutes(app, ctx);
  openaiGenerationRoutes(app, ctx);
  generateRoutes(app, ctx);
  opsRoutes(app, ctx);
  return new HfTasksServer(app, ctx);
}

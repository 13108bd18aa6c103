/**
 * Prometheus metrics (prom-client) for `GET /metrics`: request counts and latencies by route,
 * model and status, inference time, queue depth, batch sizes, input tokens and characters,
 * result-cache hits, model load times, plus the process defaults (RSS, CPU, event loop lag).
 * Each server owns its registry, so several servers can live in one process.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { BatcherStats } from '../runtime/batcher.js';

/** Something that reports the engine's batching counters (an engine runner). */
export interface EngineStatsSource {
  stats(): BatcherStats;
}

/** Engine counters exported per model: metric suffix, help, and the stats field. */
const ENGINE_GAUGES: ReadonlyArray<readonly [string, string, keyof BatcherStats]> = [
  ['calls', 'Network calls the engine completed or failed, by model', 'calls'],
  ['jobs', 'Batches (jobs) the engine ran; calls / jobs is the mean batch size, by model', 'jobs'],
  ['batched_calls', 'Calls that ran stacked with at least one other call, by model', 'batchedCalls'],
  ['max_calls_per_job', 'Largest number of calls stacked into one batch, by model', 'maxCallsPerJob'],
  ['tokens', 'Real tokens of batched calls, by model', 'tokens'],
  ['padded_tokens', 'Padded tokens the batched jobs ran, by model', 'paddedTokens'],
  ['rejected_calls', 'Calls the engine rejected because its queue was full, by model', 'rejected'],
];

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'model' | 'status'>;
  readonly requestDuration: Histogram<'route' | 'model' | 'status'>;
  readonly inferenceDuration: Histogram<'model' | 'task'>;
  readonly queueDepth: Gauge<'model'>;
  readonly batchSize: Histogram<'model' | 'task'>;
  readonly inputTokens: Counter<'model'>;
  readonly inputCharacters: Counter<'model'>;
  readonly cacheLookups: Counter<'result'>;
  readonly modelLoadSeconds: Gauge<'model' | 'task'>;
  readonly modelsReady: Gauge;
  /** Generation: sequences being decoded (a request's pipe call from start to settle), by model. */
  readonly activeSequences: Gauge<'model'>;
  readonly timeToFirstToken: Histogram<'model'>;
  readonly interTokenLatency: Histogram<'model'>;
  readonly generatedTokens: Counter<'model'>;
  readonly generationRequests: Counter<'model' | 'outcome'>;
  /** Engine runners per served model, read when /metrics is scraped. */
  readonly #engines = new Map<string, Set<EngineStatsSource>>();

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'hf_tasks_http_requests_total',
      help: 'HTTP requests answered, by route, model and status code',
      labelNames: ['route', 'model', 'status'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'hf_tasks_http_request_duration_seconds',
      help: 'HTTP request latency in seconds, by route, model and status code',
      labelNames: ['route', 'model', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.inferenceDuration = new Histogram({
      name: 'hf_tasks_inference_duration_seconds',
      help: 'Time spent in the pipeline per request (cache misses only), by model and task',
      labelNames: ['model', 'task'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'hf_tasks_queue_depth',
      help: 'Requests held by a model (waiting for it to load or running), by model',
      labelNames: ['model'],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'hf_tasks_batch_size',
      help: 'Inputs per pipeline call (1 for a single input, n for a list), by model and task',
      labelNames: ['model', 'task'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.inputTokens = new Counter({
      name: 'hf_tasks_input_tokens_total',
      help: 'Tokens of the text inputs sent to a model (special tokens included, before truncation)',
      labelNames: ['model'],
      registers,
    });
    this.inputCharacters = new Counter({
      name: 'hf_tasks_input_characters_total',
      help: 'Unicode code points of the text inputs sent to a model',
      labelNames: ['model'],
      registers,
    });
    this.cacheLookups = new Counter({
      name: 'hf_tasks_cache_lookups_total',
      help: 'Result-cache lookups, by result (hit or miss)',
      labelNames: ['result'],
      registers,
    });
    this.modelLoadSeconds = new Gauge({
      name: 'hf_tasks_model_load_seconds',
      help: 'Seconds the last load of a model pipeline took, by model and task',
      labelNames: ['model', 'task'],
      registers,
    });
    this.modelsReady = new Gauge({
      name: 'hf_tasks_models_ready',
      help: 'Model pipelines loaded and ready to answer',
      registers,
    });
    this.activeSequences = new Gauge({
      name: 'hf_tasks_generation_active_sequences',
      help: 'Generation calls being decoded (started and not yet finished, failed or cancelled), by model',
      labelNames: ['model'],
      registers,
    });
    this.timeToFirstToken = new Histogram({
      name: 'hf_tasks_generation_time_to_first_token_seconds',
      help: 'Seconds from the start of a generation call to its first generated token, by model',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.interTokenLatency = new Histogram({
      name: 'hf_tasks_generation_inter_token_latency_seconds',
      help: 'Seconds between two consecutive generated tokens of one sequence, by model',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.generatedTokens = new Counter({
      name: 'hf_tasks_generation_generated_tokens_total',
      help: 'Tokens generated (cancelled sequences count the tokens made before they stopped), by model',
      labelNames: ['model'],
      registers,
    });
    this.generationRequests = new Counter({
      name: 'hf_tasks_generation_calls_total',
      help: 'Generation calls by outcome (ok, cancelled, error), by model',
      labelNames: ['model', 'outcome'],
      registers,
    });
    const engines = this.#engines;
    for (const [suffix, help, field] of ENGINE_GAUGES) {
      new Gauge({
        name: `hf_tasks_engine_${suffix}`,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          this.reset();
          for (const [model, sources] of engines) {
            let v = 0;
            for (const src of sources) {
              const n = src.stats()[field];
              v = field === 'maxCallsPerJob' ? Math.max(v, n) : v + n;
            }
            this.set({ model }, v);
          }
        },
      });
    }
    collectDefaultMetrics({ register: this.registry });
  }

  /** Reports an engine runner's batching counters under a served model id. */
  trackEngine(model: string, source: EngineStatsSource): void {
    let set = this.#engines.get(model);
    if (!set) {
      set = new Set();
      this.#engines.set(model, set);
    }
    set.add(source);
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Operations routes: `GET /health` (200 when no model is loading or failed, else 503),
 * `GET /models` (served models, their tasks and loading states) and `GET /metrics`
 * (Prometheus exposition).
 */
import type { FastifyInstance } from 'fastify';
import type { RouteConfig, ServerContext } from '../context.js';

const HF: { config: RouteConfig } = { config: { dialect: 'hf' } };

export function opsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/health', HF, async (_request, reply) => {
    const summary = ctx.registry.summary();
    const healthy = summary.loading === 0 && summary.failed === 0;
    const models: Record<string, Record<string, string>> = {};
    for (const m of ctx.registry.list()) models[m.id] = m.states();
    return reply
      .code(healthy ? 200 : 503)
      .send({ status: healthy ? 'ok' : summary.failed > 0 ? 'failed' : 'loading', models });
  });

  app.get('/models', HF, async () =>
    ctx.registry.list().map((m) => ({
      id: m.id,
      tasks: [...m.slots.keys()],
      state: m.states(),
      source: m.spec.path === undefined ? 'hub-cache' : 'local',
    })),
  );

  app.get('/metrics', HF, async (_request, reply) => {
    const { contentType, body } = await ctx.metrics.render();
    return reply.type(contentType).send(body);
  });
}

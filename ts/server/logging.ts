/**
 * Structured logs: Fastify's pino logger, one JSON line per event on stdout. Request logs carry
 * the request id, method, URL and status; bodies are never logged.
 */
import type { FastifyServerOptions } from 'fastify';

/** The Fastify `logger` option for a pino level (`silent` turns logging off). */
export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  if (level === 'silent') return false;
  return {
    level,
    serializers: {
      req: (req: { method?: string; url?: string; ip?: string }) => ({
        method: req.method,
        url: req.url,
        ip: req.ip,
      }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
  };
}

/**
 * HTTP manners shared by every route: a known path asked with a method it does not serve is
 * answered 405 with an `Allow` header (an unknown path stays 404), and cross-origin requests
 * (CORS, off unless configured) get their headers and preflight answers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Response headers a browser script may read on a cross-origin answer. */
const EXPOSED_HEADERS = [
  'x-compute-time',
  'x-compute-type',
  'x-compute-characters',
  'x-cache',
  'retry-after',
].join(', ');
/** How long a browser may cache a preflight answer (seconds). */
const PREFLIGHT_MAX_AGE_S = 600;

/** A route path (`/models/*`, `/pipeline/:task/*`) as a matcher of request paths. */
function pathMatcher(url: string): RegExp {
  let re = '';
  for (const part of url.split(/(\*|:[A-Za-z0-9_]+)/)) {
    if (part === '*') re += '.*';
    else if (part.startsWith(':')) re += '[^/]+';
    else re += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The methods registered for each route path, filled as routes are added. */
export class RouteTable {
  readonly #routes = new Map<string, { match: RegExp; methods: Set<string> }>();

  /** Records the routes `app` registers from now on (call before adding routes). */
  track(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      // The catch-all preflight route of CORS answers every path: not a route of its own.
      if (route.url === '*' || route.url === '/*') return;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      let entry = this.#routes.get(route.url);
      if (!entry) {
        entry = { match: pathMatcher(route.url), methods: new Set() };
        this.#routes.set(route.url, entry);
      }
      for (const m of methods) entry.methods.add(String(m).toUpperCase());
    });
  }

  /** The methods some route serves on `path` (sorted), empty when no route matches it. */
  allowed(path: string): string[] {
    const out = new Set<string>();
    for (const { match, methods } of this.#routes.values()) {
      if (match.test(path)) for (const m of methods) out.add(m);
    }
    return [...out].sort();
  }
}

/** The path of a request URL, without its query. */
export function requestPath(request: FastifyRequest): string {
  return (request.raw.url ?? '/').split('?')[0] ?? '/';
}

/** Which origins may call the server from a browser: none, any, or a list. */
export type CorsSetting = boolean | readonly string[];

function allowedOrigin(setting: CorsSetting, origin: string): string | null {
  if (setting === false) return null;
  if (setting === true) return '*';
  return setting.includes(origin) ? origin : null;
}

/**
 * Cross-origin resource sharing. Every answer to an allowed origin carries
 * `access-control-allow-origin` (and `vary: origin` when origins are listed) and exposes the
 * compute headers; a preflight (`OPTIONS` with `access-control-request-method`) is answered 204
 * with the methods the path serves, the requested headers and a max age. A preflight from an
 * origin that is not allowed gets 204 without CORS headers, so the browser refuses the call.
 */
export function installCors(app: FastifyInstance, setting: CorsSetting, table: RouteTable): void {
  if (setting === false) return;
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (typeof origin !== 'string') return;
    const allowed = allowedOrigin(setting, origin);
    if (setting !== true) reply.header('vary', 'origin');
    if (allowed === null) return;
    reply.header('access-control-allow-origin', allowed);
    reply.header('access-control-expose-headers', EXPOSED_HEADERS);
  });
  app.options('*', async (request: FastifyRequest, reply: FastifyReply) => {
    const methods = table.allowed(requestPath(request)).filter((m) => m !== 'OPTIONS');
    if (methods.length === 0) {
      return reply.code(404).send({ error: `Route OPTIONS ${requestPath(request)} not found` });
    }
    const origin = request.headers.origin;
    const preflight =
      typeof origin === 'string' && typeof request.headers['access-control-request-method'] === 'string';
    reply.header('allow', [...methods, 'OPTIONS'].join(', '));
    if (preflight && allowedOrigin(setting, origin) !== null) {
      reply.header('access-control-allow-methods', methods.join(', '));
      const asked = request.headers['access-control-request-headers'];
      if (typeof asked === 'string' && asked.trim() !== '') {
        reply.header('access-control-allow-headers', asked);
        reply.header(
          'vary',
          setting === true ? 'access-control-request-headers' : 'origin, access-control-request-headers',
        );
      }
      reply.header('access-control-max-age', String(PREFLIGHT_MAX_AGE_S));
    }
    return reply.code(204).send();
  });
}

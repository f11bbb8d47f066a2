// HTTP metrics for a Fastify app: requests by route, method and status code, and a latency
// histogram by route; serves GET /metrics. Route labels are the route patterns (never raw URLs),
// so cardinality stays bounded whatever clients send.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

export interface HttpMetricsOptions {
  registry: Registry;
  /** Seconds; the defaults fit an API answering in about a millisecond to a few hundred ms. */
  buckets?: number[];
}

const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function httpMetrics(app: FastifyInstance, opts: HttpMetricsOptions): void {
  const requests = new Counter({
    name: 'fluxgate_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status'],
    registers: [opts.registry],
  });
  const duration = new Histogram({
    name: 'fluxgate_http_request_duration_seconds',
    help: 'Time from request received to response sent, by route pattern',
    labelNames: ['route'],
    buckets: opts.buckets ?? DEFAULT_BUCKETS,
    registers: [opts.registry],
  });
  // Label children are cached: the hot path pays a Map lookup, not a label-hash computation.
  const counters = new Map<string, Counter.Internal>();
  const histograms = new Map<string, Histogram.Internal<'route'>>();

  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const ck = `${route} ${request.method} ${reply.statusCode}`;
    let c = counters.get(ck);
    if (!c) counters.set(ck, (c = requests.labels(route, request.method, String(reply.statusCode))));
    c.inc();
    let h = histograms.get(route);
    if (!h) histograms.set(route, (h = duration.labels(route)));
    h.observe(reply.elapsedTime / 1000);
    done();
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', opts.registry.contentType);
    return opts.registry.metrics();
  });
}

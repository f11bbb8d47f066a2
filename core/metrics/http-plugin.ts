// HTTP metrics for a Fastify app: requests by route, method and status code, and a latency
// histogram by route. It does NOT serve /metrics: that belongs on a separate listener
// (core/metrics/server.ts), never on the public port. Route labels are the route patterns (never raw URLs),
// so cardinality stays bounded whatever clients send.
// Every answer is counted once: by an onResponse hook on ordinary routes, and by the handler itself on
// hot routes (route config `countsOwnAnswers: true`, see answeredBy), which skips the hook's per-request
// cost (docs/perf/profile-after.md).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { TallyCounter, TallyHistogram, type CounterChild, type HistogramChild } from './tally.js';

export interface HttpMetricsOptions {
  registry: Registry;
  /** Seconds; the defaults fit an API answering in about a millisecond to a few hundred ms. */
  buckets?: number[];
}

const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's handler (and its error handler) count its answers through HttpMetrics.answeredBy. */
    countsOwnAnswers?: boolean;
  }
}

/** Counts one sent answer of a route (call it after reply.send / reply.redirect). */
export type AnswerCounter = (reply: FastifyReply) => void;

export interface HttpMetrics {
  /** The counter of a route that counts its own answers (config.countsOwnAnswers). */
  answeredBy(route: string, method: string): AnswerCounter;
}

export function httpMetrics(app: FastifyInstance, opts: HttpMetricsOptions): HttpMetrics {
  const requests = new TallyCounter({
    name: 'fluxgate_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status'],
    registers: [opts.registry],
  });
  const duration = new TallyHistogram({
    name: 'fluxgate_http_request_duration_seconds',
    help: 'Time from request received to response sent, by route pattern',
    labelNames: ['route'],
    buckets: opts.buckets ?? DEFAULT_BUCKETS,
    registers: [opts.registry],
  });

  /** One route's series: the histogram child, and a counter child per status code seen. */
  const routeCounter = (route: string, method: string) => {
    const byStatus = new Map<number, CounterChild>();
    const seconds: HistogramChild = duration.child(route);
    return (statusCode: number, elapsedMs: number) => {
      let c = byStatus.get(statusCode);
      if (!c) byStatus.set(statusCode, (c = requests.child(route, method, String(statusCode))));
      c.inc();
      seconds.observe(elapsedMs / 1000);
    };
  };

  const byRoute = new Map<string, ReturnType<typeof routeCounter>>();
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done) => {
    if (request.routeOptions.config?.countsOwnAnswers) return done();
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${route}`;
    let count = byRoute.get(key);
    if (!count) byRoute.set(key, (count = routeCounter(route, request.method)));
    count(reply.statusCode, reply.elapsedTime);
    done();
  });

  return {
    answeredBy(route, method) {
      const count = routeCounter(route, method);
      return (reply) => count(reply.statusCode, reply.elapsedTime);
    },
  };
}

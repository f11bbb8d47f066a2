// /healthz: the process answers. /readyz: this pod can serve: started and not draining. It does
// NOT depend on Redis or Kafka: during a blip every pod would fail it at once and the Service
// would have no endpoint left, so buyers would get load-balancer errors instead of the documented
// 503 + Retry-After (which only a pod can give). Dependencies are reported by dependencyReport()
// on the metrics listener (/dependencies) and by fluxgate_redis_up / fluxgate_kafka_producer_connected.
import type { FastifyInstance } from 'fastify';

const PING_TIMEOUT_MS = 1_000;

export interface DependencyReport {
  ok: boolean;
  redis: boolean;
  kafka: boolean;
}

/** Redis answers PING and the Kafka producer is connected. */
export async function dependencyReport(app: FastifyInstance): Promise<DependencyReport> {
  const redis = await Promise.race([
    app.redis.ping().then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((r) => setTimeout(r, PING_TIMEOUT_MS, false).unref()),
  ]);
  const kafka = app.orderProducer.connected;
  return { ok: redis && kafka, redis, kafka };
}

/** Readiness as the Service sees it: false only while draining for shutdown. */
export const canServe = (app: FastifyInstance): boolean => !app.lifecycle.shuttingDown;

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const ready = canServe(app);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', shuttingDown: !ready });
  });
}

// /healthz: the process answers. /readyz: Redis answers PING and the Kafka producer is connected,
// and we are not shutting down (a failing /readyz takes the pod out of the Service first).
import type { FastifyInstance } from 'fastify';

const PING_TIMEOUT_MS = 1_000;

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const redis = await Promise.race([
      app.redis.ping().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((r) => setTimeout(r, PING_TIMEOUT_MS, false).unref()),
    ]);
    const kafka = app.orderProducer.connected;
    const shuttingDown = app.lifecycle.shuttingDown;
    const ready = redis && kafka && !shuttingDown;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', redis, kafka, shuttingDown });
  });
}

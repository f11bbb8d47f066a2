// buildApp: the API as a Fastify instance, from a validated config. Resources (Redis, Kafka,
// PostgreSQL) are created from the config unless injected through `deps` (tests).
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/logging.js';
import { createLogger } from '../core/logging.js';
import { httpMetrics, type HttpMetrics } from '../core/metrics/http-plugin.js';
import { createRegistry } from '../core/metrics/registry.js';
import { registerPoolGauges } from '../core/postgres/pool.js';
import { productExists } from '../core/postgres/products.js';
import type { FluxRedis } from '../core/redis/client.js';
import { ReplicaAcks, type Durability } from '../core/redis/durability.js';
import { registerRedisUpGauge } from '../core/redis/metrics.js';
import { parseSigningKeys, Signer } from './admission.js';
import { errorHandler, reject } from './answers.js';
import { replicaAcks, type ApiConfig } from './config.js';
import { createApiMetrics, registerKafkaConnectedGauge, type ApiMetrics } from './metrics.js';
import { OrderService } from './order-service.js';
import { kafkaPlugin, postgresPlugin, redisPlugin, type OrderSender } from './plugins/resources.js';
import { ProductLookup } from './product-lookup.js';
import { adminRoutes } from './routes/admin.js';
import { healthRoutes } from './routes/health.js';
import { inventoryRoutes } from './routes/inventory.js';
import { orderRoutes } from './routes/order.js';
import { queueRoutes } from './routes/queue.js';
import { waitingRoomRoutes } from './routes/waiting-room.js';
import { parseJsonBody } from './json-body.js';
import { formatValidationErrors } from './validation.js';

declare module 'fastify' {
  interface FastifyInstance {
    redis: FluxRedis;
    pg: Pool;
    orderProducer: OrderSender;
    orderService: OrderService;
    productLookup: ProductLookup;
    apiMetrics: ApiMetrics;
    /** HTTP answers by route (the hot routes count their own: HttpMetrics.answeredBy). */
    httpMetrics: HttpMetrics;
    lifecycle: { shuttingDown: boolean };
    metricsRegistry: Registry;
    /** Signs and checks queue tickets and admission tokens; null when ADMISSION_SIGNING_KEYS is unset. */
    signer: Signer | null;
  }
}

export interface AppDeps {
  logger?: Logger;
  registry?: Registry;
  redis?: FluxRedis;
  pool?: Pool;
  producer?: OrderSender;
}

export async function buildApp(config: ApiConfig, deps: AppDeps = {}): Promise<FastifyInstance> {
  const logger = deps.logger ?? createLogger('api', config.LOG_LEVEL);
  const registry = deps.registry ?? createRegistry('api');
  const metrics = createApiMetrics(registry);

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // No per-request log lines: at tens of thousands of requests per second they would cost more
    // than the work. Metrics count every request; errors are still logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    // Nor a child logger per request (with its reqId binding): request.log is the process logger.
    childLoggerFactory: (parent) => parent,
    bodyLimit: config.BODY_LIMIT_BYTES,
    // GET /queue/:ticket carries a signed ticket (about 150 characters; the schema caps it at 1024).
    maxParamLength: 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: {
        // Unknown fields are an error naming the field, not silently dropped (Fastify's default).
        removeAdditional: false,
        // "5" is not a quantity.
        coerceTypes: false,
        allErrors: false,
      },
    },
    schemaErrorFormatter: formatValidationErrors,
  });

  app.decorate('lifecycle', { shuttingDown: false });
  app.decorate('metricsRegistry', registry);
  app.decorate('apiMetrics', metrics);
  const keys = parseSigningKeys(config.ADMISSION_SIGNING_KEYS);
  app.decorate('signer', keys.length ? new Signer(keys) : null);
  // JSON only: text/plain (a Fastify default) would reach validation as a string.
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.setErrorHandler(errorHandler(logger));
  app.setNotFoundHandler((request, reply) => reject(reply, 'not_found', { message: `no route ${request.method} ${request.url.split('?')[0]}` }));

  // Keep-alive connections busy when close() starts would otherwise stay open (idle) until the
  // keep-alive timeout and hold close() for that long: close each one as soon as it turns idle.
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    sweeper = setInterval(() => app.server.closeIdleConnections(), 50);
  });
  app.addHook('onClose', async () => clearInterval(sweeper));
  // Draining (SIGTERM, before close): each answer closes its keep-alive connection, so a client
  // whose connection a Service pinned to this pod reconnects to a live one instead of sending its
  // next request into a socket that close() is about to drop (a reset, not an answer).
  // A callback hook, not an async one: no promise per answer, and the answer is written in the
  // same turn as reply.send() (the hot routes count their answers right after it).
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (app.lifecycle.shuttingDown) reply.header('connection', 'close');
    done(null, payload);
  });

  app.decorate('httpMetrics', httpMetrics(app, { registry }));
  try {
    await app.register(redisPlugin, { config, client: deps.redis, logger });
    await app.register(postgresPlugin, { config, pool: deps.pool, logger });
    await app.register(kafkaPlugin, { config, producer: deps.producer, logger, metrics });
  } catch (err) {
    // A dependency was unreachable: release what the plugins before it opened (boot tries again).
    await Promise.race([app.close().catch(() => undefined), new Promise((r) => setTimeout(r, 5_000).unref())]);
    throw err;
  }
  registerRedisUpGauge(registry, app.redis);
  registerKafkaConnectedGauge(registry, app.orderProducer);
  registerPoolGauges(registry, app.pg);

  const productLookup = new ProductLookup((id) => productExists(app.pg, id), config.PRODUCT_LOOKUP_CACHE_MS);
  app.decorate('productLookup', productLookup);
  app.decorate(
    'orderService',
    new OrderService({
      redis: app.redis,
      durability: durabilityOf(config, app.redis, metrics, logger),
      producer: app.orderProducer,
      isProductKnown: (id) => productLookup.isKnown(id),
      metrics,
      logger,
      settings: {
        soldOutCacheMs: config.SOLD_OUT_CACHE_MS,
        idempotencyTtlSec: config.IDEMPOTENCY_TTL_SECONDS,
        orderStatusTtlSec: config.ORDER_STATUS_TTL_SECONDS,
        pendingStaleMs: config.PENDING_STALE_MS,
        idempotencyWaitMs: config.IDEMPOTENCY_WAIT_MS,
      },
    }),
  );

  await app.register(healthRoutes);
  await app.register(orderRoutes);
  await app.register(queueRoutes, { signer: app.signer });
  await app.register(inventoryRoutes);
  await app.register(adminRoutes, { adminToken: config.ADMIN_TOKEN });
  await app.register(waitingRoomRoutes);
  return app;
}

/** Replica acknowledgement of reservations (REDIS_REPLICA_ACKS), or undefined for none. */
function durabilityOf(config: ApiConfig, redis: FluxRedis, metrics: ApiMetrics, logger: Logger): Durability | undefined {
  const replicas = replicaAcks(config);
  logger.info({ replicas, timeoutMs: config.REDIS_REPLICA_ACK_TIMEOUT_MS }, replicas > 0 ? 'reservations wait for Redis replica acknowledgement' : 'reservations do not wait for Redis replicas');
  if (replicas === 0) return undefined;
  return new ReplicaAcks(redis, { replicas, timeoutMs: config.REDIS_REPLICA_ACK_TIMEOUT_MS, onWait: (n, ok, s) => metrics.replicaWait(n, ok, s) });
}

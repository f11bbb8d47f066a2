// One plugin per external resource: each creates its client (unless the caller injected one),
// decorates the app with it and closes it in onClose, which runs after in-flight requests ended.
// buildApp registers redis, postgres, kafka; Fastify runs same-level onClose hooks in reverse, so the
// producer flushes (and failed sends release their stock in Redis) before Redis and PostgreSQL go.
import type { Pool } from 'pg';
import { DependencyError } from '../../core/boot.js';
import { messageOf } from '../../core/errors.js';
import { ensureTopics } from '../../core/kafka/admin.js';
import { kafkaClientOptions } from '../../core/kafka/client.js';
import { OrderProducer } from '../../core/kafka/producer.js';
import type { Logger } from '../../core/logging.js';
import { createPool } from '../../core/postgres/pool.js';
import { connectRedis, createRedis, describeRedisTarget, explainRedisError, redisTargetFromConfig, type FluxRedis } from '../../core/redis/client.js';
import type { ApiConfig } from '../config.js';
import type { ApiMetrics } from '../metrics.js';
import { shared } from './shared.js';

/** What the order path needs from a producer (OrderProducer in production). */
export interface OrderSender {
  send: OrderProducer['send'];
  readonly connected: boolean;
  close(): Promise<void>;
}

export const redisPlugin = shared<{ config: ApiConfig; client?: FluxRedis; logger: Logger }>('flux-gate-redis', async (app, opts) => {
  let redis: FluxRedis;
  if (opts.client) redis = opts.client;
  else {
    const target = redisTargetFromConfig(opts.config);
    redis = createRedis(target, { commandTimeoutMs: opts.config.REDIS_COMMAND_TIMEOUT_MS, connectionName: 'flux-gate-api' });
    redis.on('error', (err: Error) => opts.logger.warn({ err: explainRedisError(err) }, 'Redis connection error'));
    opts.logger.info({ redis: describeRedisTarget(target) }, 'connecting to Redis');
    await connectRedis(redis).catch((err: Error) => {
      redis.disconnect(); // no reconnecting in the background: boot retries with a fresh client
      throw new DependencyError('redis', `Redis (${describeRedisTarget(target)}): ${err.message}`, { cause: err });
    });
  }
  app.decorate<FluxRedis>('redis', redis);
  app.addHook('onClose', async () => {
    if (!opts.client) await redis.quit().catch(() => redis.disconnect());
  });
});

export const postgresPlugin = shared<{ config: ApiConfig; pool?: Pool; logger: Logger }>('flux-gate-postgres', async (app, opts) => {
  // Small: PostgreSQL is off the hot path (unknown-sale lookups, GET /order, /init).
  const pool = opts.pool ?? createPool(opts.config, { max: 4, applicationName: 'flux-gate-api', logger: opts.logger });
  app.decorate('pg', pool);
  app.addHook('onClose', async () => {
    if (!opts.pool) await pool.end();
  });
});

export const kafkaPlugin = shared<{ config: ApiConfig; producer?: OrderSender; logger: Logger; metrics: ApiMetrics }>(
  'flux-gate-kafka-producer',
  async (app, opts) => {
    const c = opts.config;
    let producer: OrderSender;
    if (opts.producer) producer = opts.producer;
    else {
      const p = new OrderProducer({
        client: kafkaClientOptions(c, 'api'),
        topic: c.ORDERS_TOPIC,
        logger: opts.logger,
        retries: c.KAFKA_PRODUCE_RETRIES,
        requestTimeoutMs: c.KAFKA_REQUEST_TIMEOUT_MS,
        maxBatch: c.KAFKA_PRODUCE_BATCH_MAX,
        lanes: c.KAFKA_PRODUCERS,
        messageVersion: c.KAFKA_ORDER_MESSAGE_VERSION === 1 ? 1 : 2,
        onBatch: opts.metrics.produceBatch,
      });
      try {
        await ensureTopics(p.kafka, {
          ordersTopic: c.ORDERS_TOPIC,
          partitions: c.ORDERS_TOPIC_PARTITIONS,
          replicationFactor: c.ORDERS_TOPIC_REPLICATION_FACTOR,
          minInsyncReplicas: c.ORDERS_TOPIC_MIN_INSYNC_REPLICAS,
          logger: opts.logger,
        });
        await p.connect();
      } catch (err) {
        await p.close().catch(() => undefined);
        throw new DependencyError('kafka', `Kafka (${c.KAFKA_BROKERS}): ${messageOf(err)}`, { cause: err });
      }
      producer = p;
    }
    app.decorate('orderProducer', producer);
    app.addHook('onClose', async () => {
      // Queued orders are still answered (sent or released) before the producer goes.
      if (!opts.producer) await producer.close();
    });
  },
);

// flux-gate worker: consumes the orders topic and persists it into PostgreSQL in batches.
// Invariant: Kafka unreachable at boot is waited for (core/boot.ts), never a reason to exit.
import { DependencyError, retryUntilReachable } from '../core/boot.js';
import { messageOf } from '../core/errors.js';
import { ensureTopics } from '../core/kafka/admin.js';
import { kafkaClientOptions } from '../core/kafka/client.js';
import { createKafka, createOrdersConsumer } from '../core/kafka/consumer.js';
import { topicsFor } from '../core/kafka/topics.js';
import { createLogger } from '../core/logging.js';
import { startMetricsServer } from '../core/metrics/server.js';
import { createPool, registerPoolGauges } from '../core/postgres/pool.js';
import { loadWorkerConfig } from './config.js';
import { handleBatch } from './handle-batch.js';
import { createWorkerMetrics } from './metrics.js';
import { PartitionPipelines } from './pipeline.js';

export async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const logger = createLogger('worker', config.LOG_LEVEL);
  // Lifecycle lines (ready, stopping, stopped) are printed even at LOG_LEVEL=warn: tools wait for them.
  const lifecycle = logger.isLevelEnabled('info') ? logger : logger.child({}, { level: 'info' });
  const topics = topicsFor(config.ORDERS_TOPIC);
  const metrics = createWorkerMetrics();
  const poolMax = Math.max(config.PG_POOL_MAX, config.WORKER_PARTITIONS_CONCURRENCY);
  const pool = createPool(config, {
    max: poolMax,
    applicationName: 'flux-gate-worker',
    queryTimeoutMs: config.PG_QUERY_TIMEOUT_MS,
    connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS,
    logger,
  });
  registerPoolGauges(metrics.registry, pool);
  const kafka = createKafka(kafkaClientOptions(config, 'worker'), logger);

  // DLQ producer: acks=all on every send; not idempotent (a DLQ copy written twice after a retry is
  // harmless, and kafkajs' idempotent mode would want unbounded retries that could hang shutdown).
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const consumer = createOrdersConsumer(kafka, {
    groupId: config.KAFKA_GROUP_ID,
    maxBytesPerPartition: config.WORKER_MAX_BYTES_PER_PARTITION,
    sessionTimeoutMs: config.WORKER_SESSION_TIMEOUT_MS,
  });

  const state = { joined: false, stopping: false, crashed: false };
  const pipelines = new PartitionPipelines();
  let resolveJoined!: () => void;
  const joined = new Promise<void>((r) => (resolveJoined = r));
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    state.joined = true;
    metrics.lag.reset(); // partitions we lost must not keep reporting their old lag
    pipelines.forgetFailures(); // every partition restarts from its committed offset
    logger.info({ memberAssignment: e.payload.memberAssignment, memberId: e.payload.memberId }, 'joined the consumer group');
    resolveJoined();
  });
  consumer.on(consumer.events.CRASH, (e) => {
    logger.error({ err: e.payload.error?.message, restart: e.payload.restart }, 'consumer crashed');
    if (!e.payload.restart) {
      state.crashed = true;
      void shutdown('consumer crashed without restart', 1);
    }
  });

  const server = await startMetricsServer({
    port: config.METRICS_PORT,
    host: config.METRICS_HOST,
    registry: metrics.registry,
    isAlive: () => !state.crashed,
    isReady: () => ({
      ready: state.joined && !state.stopping && !state.crashed,
      detail: { groupJoined: state.joined, stopping: state.stopping },
    }),
    logger,
  });

  let stopped!: (code: number) => void;
  const done = new Promise<number>((r) => (stopped = r));
  let shuttingDown = false;
  async function shutdown(reason: string, code: number): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    state.stopping = true;
    lifecycle.info({ reason }, 'stopping: finishing the in-flight batch');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs: config.WORKER_SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; uncommitted batches will be redelivered');
      process.exit(1);
    }, config.WORKER_SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    // New batches are refused from now on; the ones in flight finish and commit while we are still
    // a group member. Then consumer.disconnect() stops fetching and leaves the group.
    await pipelines.drain();
    for (const [name, close] of [
      ['consumer', () => consumer.disconnect()],
      ['producer', () => producer.disconnect()],
      ['postgres', () => pool.end()],
      ['metrics server', () => server.close()],
    ] as const) {
      await close().catch((err: Error) => logger.warn({ err: err.message }, `closing ${name} failed`));
    }
    clearTimeout(timer);
    lifecycle.info('stopped');
    stopped(code);
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.once('SIGINT', () => void shutdown('SIGINT', 0));

  // Kafka away at boot (a broker restart): wait for it, alive and not ready, instead of exiting.
  const reached = await retryUntilReachable('worker boot', async () => {
    try {
      await ensureTopics(kafka, {
        ordersTopic: topics.orders,
        partitions: config.ORDERS_TOPIC_PARTITIONS,
        replicationFactor: config.ORDERS_TOPIC_REPLICATION_FACTOR,
        minInsyncReplicas: config.ORDERS_TOPIC_MIN_INSYNC_REPLICAS,
        logger,
      });
      await producer.connect();
      await consumer.connect();
      return true;
    } catch (err) {
      throw new DependencyError('kafka', `Kafka (${config.KAFKA_BROKERS}): ${messageOf(err)}`, { cause: err });
    }
  }, { logger, stopping: () => state.stopping });
  if (!reached) {
    const code = await done; // SIGTERM during boot: shutdown() ran
    process.exit(code);
  }
  // From the beginning: a group that never committed must not skip orders accepted before it existed.
  await consumer.subscribe({ topics: [topics.orders], fromBeginning: true });
  const backoff = { minMs: config.WORKER_RETRY_MIN_MS, maxMs: config.WORKER_RETRY_MAX_MS };
  const batchContext = {
    pool,
    producer,
    dlqTopic: topics.dlq,
    backoff,
    metrics,
    logger,
    pipelines,
    maxInFlight: poolMax,
    stopping: () => state.stopping,
    seek: (topic: string, partition: number, offset: string) => consumer.seek({ topic, partition, offset }),
  };
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: config.WORKER_PARTITIONS_CONCURRENCY,
    eachBatch: (payload) => handleBatch(batchContext, payload),
  });
  if ((await Promise.race([joined.then(() => 'joined'), done])) === 'joined')
    lifecycle.info({ port: server.port, topic: topics.orders, groupId: config.KAFKA_GROUP_ID }, 'ready');

  const code = await done;
  if (code !== 0) process.exit(code);
  // Nothing should keep the event loop alive now; if something does, do not hang the pod's termination.
  setTimeout(() => process.exit(0), 1_000).unref();
}

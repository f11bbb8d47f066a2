// The worker's Prometheus metrics and the functions that record a batch's outcome in them.
import type { Batch } from 'kafkajs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../core/logging.js';
import type { Decision } from './allocate.js';

export function createWorkerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    batchSize: new Histogram({
      name: 'fluxgate_worker_batch_size',
      help: 'Messages per Kafka batch handled by the worker',
      buckets: [1, 10, 50, 100, 500, 1000, 2000, 5000, 10000],
      registers: [registry],
    }),
    batchDuration: new Histogram({
      name: 'fluxgate_worker_batch_duration_seconds',
      help: 'Time to persist one batch (decode, DLQ, PostgreSQL transaction, offset commit), retries included',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    ordersPersisted: new Counter({
      name: 'fluxgate_worker_orders_persisted_total',
      help: 'Orders stored in PostgreSQL, by status and reject reason (reason "" for confirmed)',
      labelNames: ['status', 'reason'] as const,
      registers: [registry],
    }),
    redelivered: new Counter({
      name: 'fluxgate_worker_orders_redelivered_total',
      help: 'Orders received again that PostgreSQL already held (no-op; expected after a crash or rebalance)',
      registers: [registry],
    }),
    dlq: new Counter({
      name: 'fluxgate_worker_dlq_total',
      help: 'Messages sent to the dead-letter topic because they could not be decoded or PostgreSQL refused them',
      registers: [registry],
    }),
    retries: new Counter({
      name: 'fluxgate_worker_batch_retries_total',
      help: 'Batch attempts that failed and were retried (PostgreSQL or DLQ unavailable)',
      labelNames: ['stage'] as const,
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'fluxgate_worker_consumer_lag',
      help: 'Messages behind the partition high watermark after the last committed batch',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** Counts the stored orders by status and reason; logs each rejected one. Returns the counts. */
export function recordDecisions(m: WorkerMetrics, log: Logger, decisions: readonly Decision[], redelivered: number) {
  let confirmed = 0;
  const rejected: Record<string, number> = {};
  for (const d of decisions) {
    if (d.status === 'confirmed') {
      confirmed++;
      continue;
    }
    rejected[d.reason] = (rejected[d.reason] ?? 0) + 1;
    const { orderId, productId, quantity } = d.order;
    log.warn({ orderId, productId, quantity, reason: d.reason, ...(d.reason === 'duplicate' ? { duplicateOf: d.duplicateOf } : {}) }, 'order rejected');
  }
  if (confirmed) m.ordersPersisted.inc({ status: 'confirmed', reason: '' }, confirmed);
  for (const [reason, n] of Object.entries(rejected)) m.ordersPersisted.inc({ status: 'rejected', reason }, n);
  if (redelivered) m.redelivered.inc(redelivered);
  return { confirmed, rejected };
}

/** Size, duration (since `started`, hrtime) and the partition's lag after committing up to `next`. */
export function recordBatch(m: WorkerMetrics, batch: Batch, next: string, started: bigint): void {
  m.batchSize.observe(batch.messages.length);
  m.batchDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
  const lag = BigInt(batch.highWatermark) - BigInt(next);
  m.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(lag > 0n ? lag : 0n));
}

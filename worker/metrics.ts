import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
      help: 'Messages sent to the dead-letter topic because they could not be decoded',
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

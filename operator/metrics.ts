// Prometheus metrics of the operator (served by core/metrics/server.ts on /metrics).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createOperatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fluxgate_operator_process_' });
  return {
    registry,
    reconciles: new Counter({
      name: 'fluxgate_operator_reconciles_total',
      help: 'FlashSale reconciles by result (success, error, conflict)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'fluxgate_operator_reconcile_duration_seconds',
      help: 'Duration of one FlashSale reconcile (observe + decide + apply)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    recoveries: new Counter({
      name: 'fluxgate_operator_recoveries_total',
      help: 'Completed Redis recoveries (gate closed, drained, reseeded from PostgreSQL, reopened) by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    recoveryDuration: new Histogram({
      name: 'fluxgate_operator_recovery_duration_seconds',
      help: 'Time the gate of a sale stayed closed during a recovery',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers: [registry],
    }),
    scalingDecisions: new Counter({
      name: 'fluxgate_operator_scaling_decisions_total',
      help: 'Worker Deployment replica changes made by the operator, by direction (up, down)',
      labelNames: ['namespace', 'deployment', 'direction'] as const,
      registers: [registry],
    }),
    desiredReplicas: new Gauge({
      name: 'fluxgate_operator_worker_replicas',
      help: 'Replicas the operator set on each worker Deployment',
      labelNames: ['namespace', 'deployment'] as const,
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'fluxgate_operator_consumer_lag',
      help: 'Consumer lag of the orders topic seen by each FlashSale (messages accepted, not yet in PostgreSQL)',
      labelNames: ['namespace', 'flashsale'] as const,
      registers: [registry],
    }),
    stockRemaining: new Gauge({
      name: 'fluxgate_operator_stock_remaining',
      help: 'Stock still sellable per FlashSale (status.stock.remaining, else PostgreSQL stock) as last reconciled',
      labelNames: ['namespace', 'flashsale'] as const,
      registers: [registry],
    }),
    lagReadErrors: new Counter({
      name: 'fluxgate_operator_lag_read_errors_total',
      help: 'Failed consumer-lag reads (the last good value is kept; no scale-down meanwhile)',
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'fluxgate_operator_leader',
      help: '1 while this replica holds the leader Lease and acts, else 0',
      registers: [registry],
    }),
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;

// Prometheus metrics of the operator (served by core/metrics/server.ts on /metrics).
// No label is named `namespace`: Prometheus attaches the scrape target's own `namespace` (the
// operator's) and would rename ours to exported_namespace; the FlashSale's is flashsale_namespace.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES, type FlashSaleStatus } from './model/types.js';

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
      labelNames: ['flashsale_namespace', 'deployment', 'direction'] as const,
      registers: [registry],
    }),
    desiredReplicas: new Gauge({
      name: 'fluxgate_operator_worker_replicas',
      help: 'Replicas the operator set on each worker Deployment',
      labelNames: ['flashsale_namespace', 'deployment'] as const,
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'fluxgate_operator_consumer_lag',
      help: "Consumer lag of each FlashSale's own partition of the orders topic (its orders accepted, not yet in PostgreSQL)",
      labelNames: ['flashsale_namespace', 'flashsale'] as const,
      registers: [registry],
    }),
    stockRemaining: new Gauge({
      name: 'fluxgate_operator_stock_remaining',
      help: 'Stock still sellable per FlashSale (status.stock.remaining, else PostgreSQL stock) as last reconciled',
      labelNames: ['flashsale_namespace', 'flashsale'] as const,
      registers: [registry],
    }),
    salePhase: new Gauge({
      name: 'fluxgate_operator_flashsale_phase',
      help: 'Phase of each FlashSale: 1 for its current phase, 0 for the others (as kube-state-metrics does)',
      labelNames: ['flashsale_namespace', 'flashsale', 'phase'] as const,
      registers: [registry],
    }),
    saleReady: new Gauge({
      name: 'fluxgate_operator_flashsale_ready',
      help: 'Ready condition of each FlashSale: 1 when True, else 0; reason is the condition reason, so every non-Ready reason can alert',
      labelNames: ['flashsale_namespace', 'flashsale', 'reason'] as const,
      registers: [registry],
    }),
    queueWaiting: new Gauge({
      name: 'fluxgate_operator_queue_waiting',
      help: 'Buyers waiting in the queue of each queued FlashSale (status.admission.waiting) as last reconciled',
      labelNames: ['flashsale_namespace', 'flashsale'] as const,
      registers: [registry],
    }),
    queueAdmitted: new Gauge({
      name: 'fluxgate_operator_queue_admitted',
      help: 'Places admitted so far in each queued FlashSale (status.admission.admitted; grows at spec.admission.ratePerSecond while buyers wait)',
      labelNames: ['flashsale_namespace', 'flashsale'] as const,
      registers: [registry],
    }),
    lagReadErrors: new Counter({
      name: 'fluxgate_operator_lag_read_errors_total',
      help: 'Failed consumer-lag reads (the last good value is kept; no scale-down meanwhile)',
      registers: [registry],
    }),
    /** The reason label of each sale's current Ready series, so a changed reason replaces it. */
    readyReasons: new Map<string, string>(),
    leader: new Gauge({
      name: 'fluxgate_operator_leader',
      help: '1 while this replica holds the leader Lease and acts, else 0',
      registers: [registry],
    }),
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;

/** Per-sale series after a reconcile: phase, Ready (one series, its reason current), lag, stock. */
export function recordSale(m: OperatorMetrics, namespace: string, name: string, status: FlashSaleStatus, ownLag: number | undefined): void {
  const sale = { flashsale_namespace: namespace, flashsale: name };
  if (status.phase) for (const phase of PHASES) m.salePhase.set({ ...sale, phase }, phase === status.phase ? 1 : 0);
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  if (ready) {
    const key = `${namespace}/${name}`;
    const was = m.readyReasons.get(key);
    if (was !== undefined && was !== ready.reason) m.saleReady.remove({ ...sale, reason: was });
    m.readyReasons.set(key, ready.reason);
    m.saleReady.set({ ...sale, reason: ready.reason }, ready.status === 'True' ? 1 : 0);
  }
  if (ownLag !== undefined) m.lag.set(sale, ownLag);
  const remaining = status.stock?.remaining ?? status.stock?.postgres;
  if (remaining !== undefined) m.stockRemaining.set(sale, remaining);
  if (status.admission) {
    m.queueWaiting.set(sale, status.admission.waiting);
    m.queueAdmitted.set(sale, status.admission.admitted);
  } else {
    m.queueWaiting.remove(sale);
    m.queueAdmitted.remove(sale);
  }
}

/** A deleted sale leaves no series behind. */
export function forgetSale(m: OperatorMetrics, namespace: string, name: string): void {
  const sale = { flashsale_namespace: namespace, flashsale: name };
  m.lag.remove(sale);
  m.stockRemaining.remove(sale);
  m.queueWaiting.remove(sale);
  m.queueAdmitted.remove(sale);
  for (const phase of PHASES) m.salePhase.remove({ ...sale, phase });
  const key = `${namespace}/${name}`;
  const reason = m.readyReasons.get(key);
  if (reason !== undefined) m.saleReady.remove({ ...sale, reason });
  m.readyReasons.delete(key);
}

// The end of a reconcile that leaves Redis seeded: phase, conditions, stock figures and the
// status, plus when to come back. Shared by the first seed, the recovery and the steady state.
import { admissionStatus } from './admission.js';
import { getCondition } from './conditions.js';
import type { SaleStep, Step } from './context.js';
import type { Decision, FlashSaleStatus, Observed, Phase, Settings } from './types.js';

export interface Outcome {
  stock: number | null;
  epoch: number;
  recovery?: FlashSaleStatus['recovery'];
  consistentAfterSeed?: boolean;
}

export const PHASE_TEXT: Record<Phase, string> = {
  Pending: 'seeded; the sale has not started yet (orders get 425)',
  Active: 'selling',
  Recovering: 'gate closed while Redis is reseeded from PostgreSQL (orders get 503 recovering)',
  SoldOut: 'every unit is reserved',
  Ended: 'the sale window is over (orders get 410)',
  Paused: 'paused by spec.paused (orders get 503)',
};

export function finish(st: SaleStep, out: Outcome): Decision {
  const { o, s, prev, actions, product } = st;
  const spec = o.sale.spec;
  const phase = phaseOf(o, out.stock ?? product.stock);
  st.cond('StockSeeded', 'True', 'Seeded', `Redis holds the sale at epoch ${out.epoch} (run ${st.runId.slice(0, 12)})`);
  if (out.consistentAfterSeed && getCondition(st.conditions(), 'Consistent')?.status !== 'True')
    st.cond('Consistent', 'True', 'Reseeded', `Redis was seeded from PostgreSQL (${product.stock} units)`);
  if (st.loweringRefused) {
    st.cond('Ready', 'False', 'StockBelowSold', `spec.stock ${spec.stock} is below what is already sold; keeping the allocation of ${product.initialStock}`);
  } else {
    st.cond('Ready', 'True', phase, PHASE_TEXT[phase]);
  }
  workersStatus(st);
  // Phase Events for a running sale only (the first seed has its own "Seeded" Event).
  if (prev.redis?.epoch !== undefined && prev.phase && prev.phase !== phase && prev.phase !== 'Recovering') {
    actions.push({ kind: 'event', type: 'Normal', reason: phase, message: PHASE_TEXT[phase] });
  }
  const status: FlashSaleStatus = {
    ...prev,
    observedGeneration: o.sale.metadata.generation,
    phase,
    message: PHASE_TEXT[phase],
    stock: stockFigures(st, out.stock),
    redis: { runId: st.runId, epoch: out.epoch },
    workers: workersFields(o, prev),
    admission: admissionStatus(st),
    conditions: st.conditions(),
  };
  if (out.recovery) status.recovery = out.recovery;
  const pendingAudit = actions.some((a) => a.kind === 'auditPending' && a.value !== undefined);
  return { actions, status, requeueAfterMs: nextBoundaryMs(o, s, pendingAudit) };
}

/** Allocation, PostgreSQL's stock, Redis's stock (when known), what is left and what is sold. */
export function stockFigures(st: SaleStep, redisStock: number | null): NonNullable<FlashSaleStatus['stock']> {
  const p = st.product;
  return {
    allocated: p.initialStock,
    postgres: p.stock,
    ...(redisStock === null ? {} : { redis: redisStock }),
    remaining: redisStock ?? p.stock,
    sold: p.initialStock - p.stock,
  };
}

export function phaseOf(o: Observed, remaining: number): Phase {
  const spec = o.sale.spec;
  const now = o.now.getTime();
  if (spec.paused) return 'Paused';
  if (spec.endsAt && now >= Date.parse(spec.endsAt)) return 'Ended';
  if (spec.startsAt && now < Date.parse(spec.startsAt)) return 'Pending';
  if (remaining <= 0) return 'SoldOut';
  return 'Active';
}

/** Requeue exactly at the next window boundary, so the phase moves on time; else at the resync. */
function nextBoundaryMs(o: Observed, s: Settings, pendingAudit: boolean): number | undefined {
  const now = o.now.getTime();
  const waits = [o.sale.spec.startsAt, o.sale.spec.endsAt]
    .filter((t): t is string => !!t)
    .map((t) => Date.parse(t) - now)
    .filter((d) => d > 0);
  let next = waits.length ? Math.min(...waits) + 50 : undefined;
  // A suspected mismatch is read again after the confirmation delay (it needs two agreeing reads).
  if (o.auditPending || pendingAudit) next = Math.min(next ?? Infinity, s.auditConfirmMs);
  return next;
}

export function metricsConditions(st: Step): void {
  const lag = st.o.lag;
  if (lag.ok) {
    st.cond('MetricsAvailable', 'True', 'LagRead', `consumer lag ${lag.value.total} over ${lag.value.partitions} partitions`);
  } else {
    st.cond('MetricsAvailable', 'False', 'LagReadFailed', `cannot read the consumer lag (last good value kept, no scale-down): ${lag.error}`);
  }
}

export function workersStatus(st: Step): void {
  const spec = st.o.sale.spec;
  const w = st.o.workers;
  const cond = st.cond;
  if (!spec.workers) return cond('WorkersScaled', 'True', 'NotConfigured', 'no spec.workers: the operator does not scale workers for this sale');
  if (spec.paused) return cond('WorkersScaled', 'True', 'Paused', 'scaling is frozen while the sale is paused');
  if (w?.error) return cond('WorkersScaled', 'False', w.error.reason, w.error.message);
  if (!w || w.replicas === undefined) return cond('WorkersScaled', 'Unknown', 'Pending', 'waiting for the first lag reading');
  if (w.cap === 'metricsUnavailable' || w.cap === 'noMetrics')
    return cond('WorkersScaled', 'False', 'MetricsUnavailable', `keeping ${w.replicas} replicas: the lag cannot be read (never taken as 0)`);
  if (w.cap === 'stabilization')
    return cond('WorkersScaled', 'True', 'StabilizationWindow', `${w.replicas} replicas, ${w.desired} wanted: scaling down after the stabilization window`);
  return cond('WorkersScaled', 'True', 'AsDesired', `${w.replicas} replicas of ${w.deployment} (bound: ${w.cap})`);
}

/**
 * status.workers says what holds NOW: the lag figures of the latest reading (the last known ones
 * while the lag cannot be read, which MetricsAvailable=False says), and the scaler's fields only
 * while the sale names a Deployment and the scaler has them; nothing left over from an earlier state.
 */
export function workersFields(o: Observed, prev: FlashSaleStatus): FlashSaleStatus['workers'] {
  const w = o.workers;
  const p = prev.workers ?? {};
  const lag = o.lag.ok
    ? { lag: o.lag.value.own?.lag, partition: o.lag.value.own?.partition, partitions: o.lag.value.partitions, partitionsWithLag: o.lag.value.partitionsWithLag }
    : { lag: p.lag, partition: p.partition, partitions: p.partitions, partitionsWithLag: p.partitionsWithLag };
  const out: NonNullable<FlashSaleStatus['workers']> = { ...lag };
  const deployment = o.sale.spec.workers?.deployment;
  if (deployment) {
    out.deployment = deployment;
    if (w && w.deployment === deployment && !w.error) {
      Object.assign(out, { replicas: w.replicas, desired: w.desired, cap: w.cap });
      out.lastScaleTime = w.lastScaleTime ?? (p.deployment === deployment ? p.lastScaleTime : undefined);
    }
  }
  for (const k of Object.keys(out) as Array<keyof typeof out>) if (out[k] === undefined) delete out[k];
  return Object.keys(out).length ? out : undefined;
}

// decide(observed): the whole reconcile policy as one pure function. It returns the actions that
// move the world one step toward the spec, and the status that describes the world as observed.
// Level-triggered: it never asks "what happened", only "what is, and what should be".
import { getCondition, rfc3339, setCondition } from './conditions.js';
import {
  FINALIZER,
  type Action,
  type ConditionStatus,
  type ConditionType,
  type Decision,
  type FlashSaleStatus,
  type Observed,
  type Phase,
  type ProductRow,
  type RecoveryReason,
  type RedisSale,
  type Settings,
} from './types.js';

const RECOVERY_TEXT: Record<RecoveryReason, string> = {
  RedisRestarted: 'Redis restarted or failed over (run_id changed)',
  RedisKeysMissing: "the sale's keys are missing from Redis",
  EpochMismatch: "the sale's epoch in Redis is not the one the operator seeded",
  AuditMismatch: 'Redis and PostgreSQL disagree on the stock with no order in flight',
  StockLowered: 'spec.stock was lowered',
  NotSeededByUs: 'Redis holds keys for this sale that the operator did not seed',
  InterruptedRecovery: 'a recovery was interrupted (gate found closed)',
  AllocationMismatch: 'the allocation in Redis differs from products.initial_stock',
};

export function decide(o: Observed, s: Settings): Decision {
  const sale = o.sale;
  const spec = sale.spec;
  const gen = sale.metadata.generation;
  const prev = sale.status ?? {};
  const actions: Action[] = [];
  let conditions = prev.conditions;
  const cond = (type: ConditionType, status: ConditionStatus, reason: string, message: string) => {
    conditions = setCondition(conditions, type, { status, reason, message }, o.now, gen);
  };
  const status = (extra: FlashSaleStatus): FlashSaleStatus => ({ ...prev, observedGeneration: gen, ...extra, conditions });
  const hasFinalizer = sale.metadata.finalizers?.includes(FINALIZER) ?? false;

  // --- Another FlashSale already sells this product: touch nothing (not even on delete). ---
  if (o.productClaimedBy) {
    if (sale.metadata.deletionTimestamp) return { actions: hasFinalizer ? [{ kind: 'removeFinalizer' }] : [], status: prev };
    const msg = `productId ${spec.productId} is already sold by FlashSale ${o.productClaimedBy}; this one is ignored`;
    if (getCondition(prev.conditions, 'Ready')?.reason !== 'ProductClaimed')
      actions.push({ kind: 'event', type: 'Warning', reason: 'ProductClaimed', message: msg });
    cond('Ready', 'False', 'ProductClaimed', msg);
    return { actions, status: status({ phase: 'Pending', message: msg }) };
  }

  // --- Deletion: remove the sale's Redis keys, then let go. PostgreSQL data stays. ---
  if (sale.metadata.deletionTimestamp) {
    if (!hasFinalizer) return { actions: [], status: prev };
    if (!o.redis.ok) return { actions: [], status: prev, requeueAfterMs: s.retryMs };
    return {
      actions: [
        { kind: 'deleteRedisKeys', productId: spec.productId },
        { kind: 'clearDrainBarrier' },
        { kind: 'event', type: 'Normal', reason: 'RedisKeysDeleted', message: `removed the Redis keys of ${spec.productId}; PostgreSQL keeps its data` },
        { kind: 'removeFinalizer' },
      ],
      status: prev,
    };
  }
  if (!hasFinalizer) actions.push({ kind: 'addFinalizer' });

  metricsConditions(o, cond);

  // --- PostgreSQL: the product row, its settings and the allocation. ---
  if (!o.postgres.ok) {
    cond('Ready', 'False', 'PostgresUnavailable', `cannot read the product from PostgreSQL: ${o.postgres.error}`);
    return { actions, status: status({ message: 'PostgreSQL unavailable' }), requeueAfterMs: s.retryMs };
  }
  const product = o.postgres.value;
  const wanted = wantedSettings(o);
  if (!product) {
    actions.push({ kind: 'ensureProduct', productId: spec.productId, allocation: spec.stock, ...wanted });
    actions.push({ kind: 'event', type: 'Normal', reason: 'ProductCreated', message: `created product ${spec.productId} with ${spec.stock} units in PostgreSQL` });
    return { actions, status: status({ phase: prev.phase ?? 'Pending', message: 'creating the product row' }), requeueAfterMs: 0 };
  }
  if (!sameSettings(product, wanted)) actions.push({ kind: 'ensureProduct', productId: spec.productId, allocation: spec.stock, ...wanted });
  if (spec.stock > product.initialStock) {
    actions.push({ kind: 'raiseStockInPostgres', productId: spec.productId, from: product.initialStock, to: spec.stock });
    actions.push({
      kind: 'event', type: 'Normal', reason: 'Restocked',
      message: `allocation raised from ${product.initialStock} to ${spec.stock}: ${spec.stock - product.initialStock} units added`,
    });
    return { actions, status: status({}), requeueAfterMs: 0 };
  }

  // --- Redis. ---
  if (!o.redis.ok) {
    cond('Ready', 'False', 'RedisUnavailable', `cannot reach Redis: ${o.redis.error}`);
    cond('StockSeeded', 'Unknown', 'RedisUnavailable', `cannot reach Redis: ${o.redis.error}`);
    return { actions, status: status({ message: 'Redis unavailable' }), requeueAfterMs: s.retryMs };
  }
  const { runId, sale: r } = o.redis.value;
  const seededByUs = prev.redis?.epoch !== undefined;
  const soldWithInFlight = product.initialStock - Math.min(product.stock, r.stock ?? product.stock);
  const lowering = spec.stock < product.initialStock;
  const loweringRefused = lowering && spec.stock < soldWithInFlight;

  // Audit: once quiet, Redis must hold exactly what PostgreSQL says is left.
  const quiet = o.lag.ok && o.lag.value.total === 0;
  let auditConfirmed = false;
  const inRecovery = prev.phase === 'Recovering';
  if (!inRecovery && quiet && r.stock !== null && r.initialStock === product.initialStock && r.epoch === prev.redis?.epoch) {
    if (r.stock === product.stock) {
      cond('Consistent', 'True', 'InSync', `Redis and PostgreSQL both hold ${r.stock} units, no order in flight`);
      if (o.auditPending) actions.push({ kind: 'auditPending', value: undefined });
    } else {
      // A mismatch is believed only when a second read, a while later and still at lag 0, shows
      // the same two numbers: an order reserved in Redis but not yet produced looks the same for
      // a few milliseconds. Then it is reported and repaired (through the recovery protocol).
      const p = o.auditPending;
      if (p && p.redis === r.stock && p.postgres === product.stock && o.now.getTime() - p.sinceMs >= s.auditConfirmMs) {
        auditConfirmed = true;
        const msg = `Redis holds ${r.stock} units but PostgreSQL ${product.stock}, with no order in flight (two reads ${Math.round((o.now.getTime() - p.sinceMs) / 1000)} s apart)`;
        if (getCondition(prev.conditions, 'Consistent')?.status !== 'False')
          actions.push({ kind: 'event', type: 'Warning', reason: 'Inconsistent', message: `${msg}; reseeding Redis from PostgreSQL` });
        cond('Consistent', 'False', 'StockMismatch', msg);
      } else if (!p || p.redis !== r.stock || p.postgres !== product.stock) {
        actions.push({ kind: 'auditPending', value: { redis: r.stock, postgres: product.stock, sinceMs: o.now.getTime() } });
      }
    }
  } else if (!getCondition(conditions, 'Consistent')) {
    cond('Consistent', 'Unknown', 'NotAudited', 'the audit runs when the orders topic is drained (lag 0)');
  }

  // Does Redis need the gate-drain-seed protocol?
  let reason: RecoveryReason | undefined = inRecovery ? (prev.recovery?.reason ?? 'RedisKeysMissing') : undefined;
  let firstSeed = false;
  if (!reason) {
    if (r.stock === null || r.gate === null) {
      // Nothing sold and never seeded: no order can be in flight for it, seed at once.
      if (!seededByUs && r.epoch === null && product.stock === product.initialStock) firstSeed = true;
      else reason = 'RedisKeysMissing';
    } else if (r.gate === 'recovering') reason = 'InterruptedRecovery';
    else if (prev.redis?.runId !== undefined && prev.redis.runId !== runId) reason = 'RedisRestarted';
    else if (!seededByUs) reason = 'NotSeededByUs';
    else if (r.epoch !== prev.redis?.epoch) reason = 'EpochMismatch';
    else if (lowering && !loweringRefused) reason = 'StockLowered';
    else if (r.initialStock !== null && r.initialStock > product.initialStock) reason = 'AllocationMismatch';
    else if (auditConfirmed) reason = 'AuditMismatch';
  }

  if (loweringRefused) {
    const msg = `spec.stock ${spec.stock} is below the ${soldWithInFlight} units already sold; keeping the allocation of ${product.initialStock}`;
    if (getCondition(prev.conditions, 'Ready')?.reason !== 'StockBelowSold')
      actions.push({ kind: 'event', type: 'Warning', reason: 'StockBelowSold', message: msg });
  }

  const seed = (gateAfter: 'open' | 'paused', minEpoch: number): Action => ({
    kind: 'seed',
    seed: {
      productId: spec.productId,
      stock: product.stock,
      initialStock: product.initialStock,
      perUserLimit: wanted.perUserLimit,
      rateLimitPerSecond: wanted.rateLimitPerSecond,
      startsAtMs: wanted.startsAt ? Date.parse(wanted.startsAt) : null,
      endsAtMs: wanted.endsAt ? Date.parse(wanted.endsAt) : null,
      gate: gateAfter,
      minEpoch,
    },
  });
  const nextEpoch = Math.max(r.epoch ?? 0, prev.redis?.epoch ?? 0) + 1;
  const stockFigures = (redisStock: number | null) => ({
    allocated: product.initialStock,
    postgres: product.stock,
    ...(redisStock === null ? {} : { redis: redisStock }),
    remaining: redisStock ?? product.stock,
    sold: product.initialStock - product.stock,
  });

  if (reason) {
    // --- Recovery: gate closed (503 recovering), wait for the drain, seed from PostgreSQL, reopen. ---
    // Millisecond precision: recoveries take about a second, whole seconds would hide that.
    const startedAt = inRecovery && prev.recovery?.startedAt ? prev.recovery.startedAt : o.now.toISOString();
    if (!inRecovery) {
      actions.push({ kind: 'event', type: 'Warning', reason: 'RecoveryStarted', message: `${RECOVERY_TEXT[reason]}: gate closed, reseeding from PostgreSQL once the workers drained the orders topic` });
    }
    if (r.gate !== 'recovering') actions.push({ kind: 'closeGate', productId: spec.productId, state: 'recovering' });
    cond('StockSeeded', 'False', 'Recovering', RECOVERY_TEXT[reason]);
    workersStatus(o, cond);
    const recovering = status({
      phase: 'Recovering',
      stock: stockFigures(r.stock),
      recovery: { ...prev.recovery, reason, startedAt },
      workers: workersFields(o, prev),
    });
    if (o.drained !== true) {
      if (o.drained === undefined) actions.push({ kind: 'captureDrainBarrier' });
      const waiting = !o.lag.ok
        ? `waiting for a lag reading (${o.lag.error})`
        : o.drainRemaining !== undefined
          ? `waiting for the workers to persist ${o.drainRemaining} orders accepted before the recovery began`
          : 'waiting for the workers to drain the orders topic';
      cond('Ready', 'False', 'Recovering', `${RECOVERY_TEXT[reason]}; ${waiting}`);
      return { actions, status: { ...recovering, conditions, message: waiting }, requeueAfterMs: s.lagPollMs };
    }
    if (lowering && !loweringRefused) {
      actions.push({ kind: 'lowerStockInPostgres', productId: spec.productId, from: product.initialStock, to: spec.stock });
      actions.push({ kind: 'event', type: 'Normal', reason: 'StockLowered', message: `allocation lowered from ${product.initialStock} to ${spec.stock}` });
      cond('Ready', 'False', 'Recovering', 'lowering the allocation in PostgreSQL');
      return { actions, status: { ...recovering, conditions }, requeueAfterMs: 0 };
    }
    const seconds = (o.now.getTime() - Date.parse(startedAt)) / 1000;
    actions.push(seed(spec.paused ? 'paused' : 'open', nextEpoch));
    actions.push({ kind: 'clearDrainBarrier' });
    actions.push({ kind: 'auditPending', value: undefined });
    actions.push({ kind: 'recoveryFinished', reason, seconds });
    actions.push({
      kind: 'event', type: 'Normal', reason: 'Recovered',
      message: `reseeded ${product.stock} units from PostgreSQL at epoch ${nextEpoch} after ${seconds.toFixed(1)} s (${RECOVERY_TEXT[reason]})`,
    });
    return finish(o, s, prev, actions, cond, () => conditions, {
      stock: product.stock, epoch: nextEpoch, runId, gate: spec.paused ? 'paused' : 'open', product, loweringRefused,
      recovery: { count: (prev.recovery?.count ?? 0) + 1, reason, startedAt, finishedAt: o.now.toISOString(), lastDurationSeconds: Math.round(seconds * 1000) / 1000 },
      consistentAfterSeed: true,
    }, stockFigures);
  }

  if (firstSeed) {
    actions.push(seed(spec.paused ? 'paused' : 'open', nextEpoch));
    actions.push({ kind: 'event', type: 'Normal', reason: 'Seeded', message: `seeded ${product.stock} units into Redis at epoch ${nextEpoch}` });
    return finish(o, s, prev, actions, cond, () => conditions, {
      stock: product.stock, epoch: nextEpoch, runId, gate: spec.paused ? 'paused' : 'open', product, loweringRefused, consistentAfterSeed: true,
    }, stockFigures);
  }

  // --- Steady state: keep Redis in line with the spec and PostgreSQL, without touching the stock. ---
  let redisStock = r.stock;
  if (r.initialStock !== null && r.initialStock < product.initialStock) {
    actions.push({ kind: 'raiseStockInRedis', productId: spec.productId, from: r.initialStock, to: product.initialStock });
    redisStock = (redisStock ?? 0) + product.initialStock - r.initialStock;
  }
  if (spec.paused && r.gate !== 'paused') {
    actions.push({ kind: 'closeGate', productId: spec.productId, state: 'paused' });
    actions.push({ kind: 'event', type: 'Normal', reason: 'Paused', message: 'spec.paused is true: gate closed, orders get 503' });
  } else if (!spec.paused && r.gate === 'paused') {
    actions.push({ kind: 'openGate', productId: spec.productId });
    actions.push({ kind: 'event', type: 'Normal', reason: 'Resumed', message: 'spec.paused is false: gate open' });
  }
  if (!sameRedisSettings(r, wanted)) {
    actions.push({
      kind: 'configureRedis',
      productId: spec.productId,
      perUserLimit: wanted.perUserLimit,
      rateLimitPerSecond: wanted.rateLimitPerSecond,
      startsAtMs: wanted.startsAt ? Date.parse(wanted.startsAt) : null,
      endsAtMs: wanted.endsAt ? Date.parse(wanted.endsAt) : null,
    });
  }
  return finish(o, s, prev, actions, cond, () => conditions, {
    stock: redisStock, epoch: r.epoch ?? prev.redis?.epoch ?? 0, runId, gate: spec.paused ? 'paused' : 'open', product, loweringRefused,
  }, stockFigures);
}

interface Outcome {
  stock: number | null;
  epoch: number;
  runId: string;
  gate: 'open' | 'paused';
  product: ProductRow;
  loweringRefused: boolean;
  recovery?: FlashSaleStatus['recovery'];
  consistentAfterSeed?: boolean;
}

function finish(
  o: Observed,
  s: Settings,
  prev: FlashSaleStatus,
  actions: Action[],
  cond: (type: ConditionType, status: ConditionStatus, reason: string, message: string) => void,
  conditions: () => FlashSaleStatus['conditions'],
  out: Outcome,
  stockFigures: (redisStock: number | null) => NonNullable<FlashSaleStatus['stock']>,
): Decision {
  const spec = o.sale.spec;
  const phase = phaseOf(o, out.stock ?? out.product.stock);
  cond('StockSeeded', 'True', 'Seeded', `Redis holds the sale at epoch ${out.epoch} (run ${out.runId.slice(0, 12)})`);
  if (out.consistentAfterSeed && getCondition(conditions(), 'Consistent')?.status !== 'True')
    cond('Consistent', 'True', 'Reseeded', `Redis was seeded from PostgreSQL (${out.product.stock} units)`);
  if (out.loweringRefused) {
    cond('Ready', 'False', 'StockBelowSold', `spec.stock ${spec.stock} is below what is already sold; keeping the allocation of ${out.product.initialStock}`);
  } else {
    cond('Ready', 'True', phase, PHASE_TEXT[phase]);
  }
  workersStatus(o, cond);
  // Phase Events for a running sale only (the first seed has its own "Seeded" Event).
  if (prev.redis?.epoch !== undefined && prev.phase && prev.phase !== phase && prev.phase !== 'Recovering') {
    actions.push({ kind: 'event', type: 'Normal', reason: phase, message: PHASE_TEXT[phase] });
  }
  const status: FlashSaleStatus = {
    ...prev,
    observedGeneration: o.sale.metadata.generation,
    phase,
    message: PHASE_TEXT[phase],
    stock: stockFigures(out.stock),
    redis: { runId: out.runId, epoch: out.epoch },
    workers: workersFields(o, prev),
    conditions: conditions(),
  };
  if (out.recovery) status.recovery = out.recovery;
  const pendingAudit = actions.some((a) => a.kind === 'auditPending' && a.value !== undefined);
  return { actions, status, requeueAfterMs: nextBoundaryMs(o, s, pendingAudit) };
}

const PHASE_TEXT: Record<Phase, string> = {
  Pending: 'seeded; the sale has not started yet (orders get 425)',
  Active: 'selling',
  Recovering: 'gate closed while Redis is reseeded from PostgreSQL (orders get 503 recovering)',
  SoldOut: 'every unit is reserved',
  Ended: 'the sale window is over (orders get 410)',
  Paused: 'paused by spec.paused (orders get 503)',
};

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

function wantedSettings(o: Observed) {
  const spec = o.sale.spec;
  return {
    perUserLimit: spec.limits?.perUser ?? null,
    rateLimitPerSecond: spec.limits?.rateLimitPerSecond ?? null,
    startsAt: spec.startsAt ? new Date(spec.startsAt).toISOString() : null,
    endsAt: spec.endsAt ? new Date(spec.endsAt).toISOString() : null,
  };
}

const sameTime = (a: string | null, b: string | null) => (a === null || b === null ? a === b : Date.parse(a) === Date.parse(b));

function sameSettings(p: ProductRow, w: ReturnType<typeof wantedSettings>): boolean {
  return (
    p.perUserLimit === w.perUserLimit &&
    p.rateLimitPerSecond === w.rateLimitPerSecond &&
    sameTime(p.startsAt, w.startsAt) &&
    sameTime(p.endsAt, w.endsAt)
  );
}

function sameRedisSettings(r: RedisSale, w: ReturnType<typeof wantedSettings>): boolean {
  return (
    r.perUserLimit === w.perUserLimit &&
    r.rateLimitPerSecond === w.rateLimitPerSecond &&
    r.startsAtMs === (w.startsAt ? Date.parse(w.startsAt) : null) &&
    r.endsAtMs === (w.endsAt ? Date.parse(w.endsAt) : null)
  );
}

function metricsConditions(o: Observed, cond: (t: ConditionType, s: ConditionStatus, r: string, m: string) => void): void {
  if (o.lag.ok) {
    cond('MetricsAvailable', 'True', 'LagRead', `consumer lag ${o.lag.value.total} over ${o.lag.value.partitions} partitions`);
  } else {
    cond('MetricsAvailable', 'False', 'LagReadFailed', `cannot read the consumer lag (last good value kept, no scale-down): ${o.lag.error}`);
  }
}

function workersStatus(o: Observed, cond: (t: ConditionType, s: ConditionStatus, r: string, m: string) => void): void {
  const spec = o.sale.spec;
  const w = o.workers;
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
function workersFields(o: Observed, prev: FlashSaleStatus): FlashSaleStatus['workers'] {
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

export const _forTests = { PHASE_TEXT, RECOVERY_TEXT };

// The recovery protocol: when Redis cannot be trusted, close the gate (503 recovering), wait until
// the workers persisted every order accepted before, seed Redis from PostgreSQL, reopen.
import type { SaleStep } from './context.js';
import { finish, stockFigures, workersFields, workersStatus } from './outcome.js';
import { seedAction } from './sale-settings.js';
import type { Decision, RecoveryReason } from './types.js';

export const RECOVERY_TEXT: Record<RecoveryReason, string> = {
  RedisRestarted: "Redis restarted or failed over (run_id changed, or the sale is fenced: seeded on another node)",
  RedisKeysMissing: "the sale's keys are missing from Redis",
  EpochMismatch: "the sale's epoch in Redis is not the one the operator seeded",
  AuditMismatch: 'Redis and PostgreSQL disagree on the stock with no order in flight',
  StockLowered: 'spec.stock was lowered',
  NotSeededByUs: 'Redis holds keys for this sale that the operator did not seed',
  InterruptedRecovery: 'a recovery was interrupted (gate found closed)',
  AllocationMismatch: 'the allocation in Redis differs from products.initial_stock',
};

/** What Redis needs: nothing, a first seed (never sold, nothing can be in flight), or a recovery. */
export type RedisNeed =
  | { kind: 'none' }
  | { kind: 'firstSeed' }
  /** A first seed waiting for a lag reading taken after the sale was created. */
  | { kind: 'awaitFreshLag' }
  | { kind: 'recovery'; reason: RecoveryReason };

export function redisNeed(st: SaleStep, auditConfirmed: boolean): RedisNeed {
  const { prev, product, r, runId } = st;
  if (prev.phase === 'Recovering') return { kind: 'recovery', reason: prev.recovery?.reason ?? 'RedisKeysMissing' };
  const seededByUs = prev.redis?.epoch !== undefined;
  const recovery = (reason: RecoveryReason): RedisNeed => ({ kind: 'recovery', reason });
  if (r.stock === null || r.gate === null) {
    // Never seeded and nothing sold in PostgreSQL: seed at once, but only if no order can still be
    // on its way there. A FlashSale deleted and recreated (the finalizer removed its keys, epoch
    // included) may have orders in the topic: a lag of 0 read after this FlashSale was created
    // proves there are none; otherwise the seed waits for the drain like any recovery.
    if (!seededByUs && r.epoch === null && product.stock === product.initialStock) {
      const quiet = topicQuietSinceCreation(st);
      if (quiet === 'yes') return { kind: 'firstSeed' };
      if (quiet === 'unknown') return { kind: 'awaitFreshLag' };
    }
    return recovery('RedisKeysMissing');
  }
  if (r.gate === 'recovering') return recovery('InterruptedRecovery');
  if (prev.redis?.runId !== undefined && prev.redis.runId !== runId) return recovery('RedisRestarted');
  // Same run_id, other data: the node was demoted, resynced from another master and promoted
  // again (or the status was written by a seed that landed elsewhere). reserve.lua refuses here.
  if (r.fenced) return recovery('RedisRestarted');
  if (!seededByUs) return recovery('NotSeededByUs');
  if (r.epoch !== prev.redis?.epoch) return recovery('EpochMismatch');
  if (st.lowering && !st.loweringRefused) return recovery('StockLowered');
  if (r.initialStock !== null && r.initialStock > product.initialStock) return recovery('AllocationMismatch');
  if (auditConfirmed) return recovery('AuditMismatch');
  return { kind: 'none' };
}

/** yes: lag 0 read after the sale was created; no: lag > 0 or unreadable; unknown: the reading is older. */
function topicQuietSinceCreation(st: SaleStep): 'yes' | 'no' | 'unknown' {
  const lag = st.o.lag;
  if (!lag.ok || lag.value.total !== 0) return 'no';
  const created = st.o.sale.metadata.creationTimestamp;
  if (created === undefined) return 'yes';
  // creationTimestamp has whole seconds: the reading must come after the end of that second.
  return lag.value.atMs !== undefined && lag.value.atMs >= Date.parse(created) + 1000 ? 'yes' : 'unknown';
}

/** One step of the recovery: close the gate, wait for the drain, lower if asked, seed and reopen. */
export function recoveryStep(st: SaleStep, reason: RecoveryReason): Decision {
  const { o, s, prev, actions, product, r } = st;
  const spec = o.sale.spec;
  const inRecovery = prev.phase === 'Recovering';
  // Millisecond precision: recoveries take about a second, whole seconds would hide that.
  const startedAt = inRecovery && prev.recovery?.startedAt ? prev.recovery.startedAt : o.now.toISOString();
  if (!inRecovery) {
    actions.push({ kind: 'event', type: 'Warning', reason: 'RecoveryStarted', message: `${RECOVERY_TEXT[reason]}: gate closed, reseeding from PostgreSQL once the workers drained the orders topic` });
  }
  // A gate found open again (a failover to a replica that had not seen it close) let orders in
  // after the barrier: close it again and capture a new barrier. A gate that is gone with the keys
  // lets nothing in (not seeded), so the barrier holds.
  const gateOpen = r.gate !== 'recovering' && r.gate !== null;
  const { barrier: kept, ...recoveryWithoutBarrier } = prev.recovery ?? {};
  const barrier = inRecovery && !gateOpen ? kept : undefined;
  if (r.gate !== 'recovering') actions.push({ kind: 'closeGate', productId: spec.productId, state: 'recovering' });
  st.cond('StockSeeded', 'False', 'Recovering', RECOVERY_TEXT[reason]);
  workersStatus(st);
  const recovering = st.status({
    phase: 'Recovering',
    stock: stockFigures(st, r.stock),
    recovery: { ...recoveryWithoutBarrier, reason, startedAt, ...(barrier ? { barrier } : {}) },
    workers: workersFields(o, prev),
  });
  const wait = (waiting: string): Decision => {
    st.cond('Ready', 'False', 'Recovering', `${RECOVERY_TEXT[reason]}; ${waiting}`);
    return { actions, status: { ...recovering, conditions: st.conditions(), message: waiting }, requeueAfterMs: s.lagPollMs };
  };
  if (!barrier) {
    // The barrier (log-end offsets) is captured only once the gate is seen closed and no
    // reservation made before is still being produced: one produced later would land above it.
    if (r.gate !== 'recovering') return wait('closing the gate');
    if (o.inFlight === undefined || o.inFlight > 0) {
      return wait(o.inFlight === undefined
        ? 'counting the reservations still on their way to Kafka'
        : `waiting for ${o.inFlight} orders accepted before the gate closed to reach Kafka`);
    }
    actions.push({ kind: 'captureDrainBarrier' });
    return wait('waiting for the workers to drain the orders topic');
  }
  if (o.drained !== true) {
    return wait(!o.lag.ok
      ? `waiting for a lag reading (${o.lag.error})`
      : o.drainRemaining !== undefined
        ? `waiting for the workers to persist ${o.drainRemaining} orders accepted before the recovery began`
        : 'waiting for the workers to drain the orders topic');
  }
  if (st.lowering && !st.loweringRefused) {
    actions.push({ kind: 'lowerStockInPostgres', productId: spec.productId, from: product.initialStock, to: spec.stock });
    actions.push({ kind: 'event', type: 'Normal', reason: 'StockLowered', message: `allocation lowered from ${product.initialStock} to ${spec.stock}` });
    st.cond('Ready', 'False', 'Recovering', 'lowering the allocation in PostgreSQL');
    return { actions, status: { ...recovering, conditions: st.conditions() }, requeueAfterMs: 0 };
  }
  const seconds = (o.now.getTime() - Date.parse(startedAt)) / 1000;
  const gate = spec.paused ? 'paused' : 'open';
  actions.push(seedAction({ productId: spec.productId, product, wanted: st.wanted, gate, minEpoch: st.nextEpoch, expectEpoch: st.r.epoch ?? 0 }));
  actions.push({ kind: 'auditPending', value: undefined });
  actions.push({ kind: 'recoveryFinished', reason, seconds });
  actions.push({
    kind: 'event', type: 'Normal', reason: 'Recovered',
    message: `reseeded ${product.stock} units from PostgreSQL at epoch ${st.nextEpoch} after ${seconds.toFixed(1)} s (${RECOVERY_TEXT[reason]})`,
  });
  return finish(st, {
    stock: product.stock, epoch: st.nextEpoch,
    recovery: { count: (prev.recovery?.count ?? 0) + 1, reason, startedAt, finishedAt: o.now.toISOString(), lastDurationSeconds: Math.round(seconds * 1000) / 1000 },
    consistentAfterSeed: true,
  });
}

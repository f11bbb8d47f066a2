import { describe, expect, it } from 'vitest';
import { decide, phaseOf } from './decide.js';
import { FINALIZER, type Action, type FlashSale, type FlashSaleStatus, type Observed, type ProductRow, type RedisSale, type Settings } from './types.js';

const NOW = new Date('2030-01-01T10:30:00Z');
const settings: Settings = { auditConfirmMs: 10_000, lagPollMs: 1_000, retryMs: 5_000 };

function sale(spec: Partial<FlashSale['spec']> = {}, status?: FlashSaleStatus, meta: Partial<FlashSale['metadata']> = {}): FlashSale {
  return {
    metadata: { name: 'drop', namespace: 'shop', generation: 2, finalizers: [FINALIZER], ...meta },
    spec: { productId: 'p1', stock: 100, limits: { perUser: 1 }, ...spec },
    ...(status ? { status } : {}),
  };
}

const product = (o: Partial<ProductRow> = {}): ProductRow => ({
  stock: 100, initialStock: 100, perUserLimit: 1, rateLimitPerSecond: null, startsAt: null, endsAt: null, ...o,
});

const redisSale = (o: Partial<RedisSale> = {}): RedisSale => ({
  stock: 100, epoch: 3, gate: 'open', initialStock: 100, perUserLimit: 1, rateLimitPerSecond: null, startsAtMs: null, endsAtMs: null, ...o,
});
const EMPTY_REDIS: RedisSale = {
  stock: null, epoch: null, gate: null, initialStock: null, perUserLimit: null, rateLimitPerSecond: null, startsAtMs: null, endsAtMs: null,
};

/** A healthy, seeded sale as last written by the operator. */
const seededStatus = (o: Partial<FlashSaleStatus> = {}): FlashSaleStatus => ({
  observedGeneration: 2,
  phase: 'Active',
  redis: { runId: 'run-a', epoch: 3 },
  ...o,
});

function observed(o: Partial<Observed> = {}): Observed {
  return {
    now: NOW,
    sale: sale({}, seededStatus()),
    postgres: { ok: true, value: product() },
    redis: { ok: true, value: { runId: 'run-a', sale: redisSale() } },
    lag: { ok: true, value: { total: 0, partitions: 6, partitionsWithLag: 0, atMs: NOW.getTime() } },
    ...o,
  };
}

const kinds = (actions: Action[]) => actions.map((a) => (a.kind === 'event' ? `event:${a.reason}` : a.kind));
const cond = (st: FlashSaleStatus, type: string) => st.conditions?.find((c) => c.type === type);

describe('decide: lifecycle', () => {
  it('adds the finalizer first and keeps going', () => {
    const d = decide(observed({ sale: sale({}, seededStatus(), { finalizers: [] }) }), settings);
    expect(kinds(d.actions)[0]).toBe('addFinalizer');
    expect(d.status.phase).toBe('Active');
  });

  it('creates the product row with the allocation, then requeues at once', () => {
    const d = decide(observed({ sale: sale({ stock: 50 }), postgres: { ok: true, value: null }, redis: { ok: true, value: { runId: 'r', sale: EMPTY_REDIS } } }), settings);
    expect(d.actions).toContainEqual({ kind: 'ensureProduct', productId: 'p1', allocation: 50, perUserLimit: 1, rateLimitPerSecond: null, startsAt: null, endsAt: null });
    expect(d.requeueAfterMs).toBe(0);
  });

  it('first seed of a fresh product happens at once, gate open, epoch 1', () => {
    const d = decide(observed({ sale: sale(), redis: { ok: true, value: { runId: 'r', sale: EMPTY_REDIS } } }), settings);
    const seed = d.actions.find((a) => a.kind === 'seed');
    expect(seed).toMatchObject({ seed: { productId: 'p1', stock: 100, initialStock: 100, gate: 'open', minEpoch: 1, perUserLimit: 1 } });
    expect(d.status).toMatchObject({ phase: 'Active', redis: { runId: 'r', epoch: 1 }, stock: { allocated: 100, postgres: 100, redis: 100, remaining: 100, sold: 0 } });
    expect(cond(d.status, 'StockSeeded')?.status).toBe('True');
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'True', reason: 'Active', lastTransitionTime: '2030-01-01T10:30:00Z', observedGeneration: 2 });
  });

  // Defect 5: a FlashSale deleted (its keys, epoch included, removed) and recreated while its orders
  // are still in the topic must not be seeded with the full stock before they are persisted.
  const created = { creationTimestamp: '2030-01-01T10:29:58Z' };
  const fresh = { ok: true as const, value: { runId: 'r', sale: EMPTY_REDIS } };
  const firstSeedRows: Array<[string, Observed['lag'], string]> = [
    ['orders in the topic: seeded after the drain', { ok: true, value: { total: 4, partitions: 6, partitionsWithLag: 1, atMs: NOW.getTime() } }, 'closeGate'],
    ['a lag of 0 read before the sale was created proves nothing: wait for a newer one', { ok: true, value: { total: 0, partitions: 6, partitionsWithLag: 0, atMs: Date.parse('2030-01-01T10:29:58.500Z') } }, 'none'],
    ['lag unreadable: seeded after the drain', { ok: false, error: 'timeout' }, 'closeGate'],
    ['lag 0 read after the sale was created: seeded at once', { ok: true, value: { total: 0, partitions: 6, partitionsWithLag: 0, atMs: NOW.getTime() } }, 'seed'],
  ];
  it.each(firstSeedRows)('first seed: %s', (_n, lag, first) => {
    const d = decide(observed({ sale: sale({}, undefined, created), redis: fresh, lag }), settings);
    expect(kinds(d.actions).filter((k) => k === 'closeGate' || k === 'seed')).toEqual(first === 'none' ? [] : [first]);
    if (first === 'none') expect(d.requeueAfterMs).toBe(settings.lagPollMs);
    if (first === 'closeGate') expect(d.status).toMatchObject({ phase: 'Recovering', recovery: { reason: 'RedisKeysMissing' } });
  });

  it('a paused sale is seeded with the gate paused', () => {
    const d = decide(observed({ sale: sale({ paused: true }), redis: { ok: true, value: { runId: 'r', sale: EMPTY_REDIS } } }), settings);
    expect(d.actions.find((a) => a.kind === 'seed')).toMatchObject({ seed: { gate: 'paused' } });
    expect(d.status.phase).toBe('Paused');
  });

  it('steady state does nothing but write the status', () => {
    const d = decide(observed(), settings);
    expect(d.actions).toEqual([]);
    expect(d.status).toMatchObject({ phase: 'Active', stock: { redis: 100, remaining: 100, sold: 0 }, redis: { runId: 'run-a', epoch: 3 } });
  });

  it('is idempotent: deciding again on its own status yields the same status and no actions', () => {
    const first = decide(observed(), settings);
    const again = decide(observed({ sale: sale({}, first.status) }), settings);
    expect(again.actions).toEqual([]);
    expect(again.status).toEqual(first.status);
  });
});

describe('decide: deletion', () => {
  const deleting = (status = seededStatus()) => sale({}, status, { deletionTimestamp: '2030-01-01T10:29:00Z' });

  it('deletes the Redis keys, then removes the finalizer', () => {
    const d = decide(observed({ sale: deleting() }), settings);
    expect(kinds(d.actions)).toEqual(['deleteRedisKeys', 'event:RedisKeysDeleted', 'removeFinalizer']);
  });

  it('keeps the finalizer while Redis is unreachable, and retries', () => {
    const d = decide(observed({ sale: deleting(), redis: { ok: false, error: 'ECONNREFUSED' } }), settings);
    expect(d.actions).toEqual([]);
    expect(d.requeueAfterMs).toBe(5_000);
  });

  it('does nothing once the finalizer is gone', () => {
    const d = decide(observed({ sale: sale({}, seededStatus(), { deletionTimestamp: 'x', finalizers: [] }) }), settings);
    expect(d.actions).toEqual([]);
  });

  it('a sale whose product is claimed by another never deletes that product’s keys', () => {
    const d = decide(observed({ sale: deleting(), productClaimedBy: 'shop/older' }), settings);
    expect(kinds(d.actions)).toEqual(['removeFinalizer']);
  });
});

describe('decide: dependencies down', () => {
  it('PostgreSQL down: Ready=False, retry, no Redis action', () => {
    const d = decide(observed({ postgres: { ok: false, error: 'connection refused' } }), settings);
    expect(d.actions).toEqual([]);
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'False', reason: 'PostgresUnavailable' });
    expect(d.requeueAfterMs).toBe(5_000);
  });

  it('Redis down: Ready=False, StockSeeded Unknown, retry', () => {
    const d = decide(observed({ redis: { ok: false, error: 'ECONNREFUSED' } }), settings);
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'False', reason: 'RedisUnavailable' });
    expect(cond(d.status, 'StockSeeded')).toMatchObject({ status: 'Unknown' });
  });

  it('a failed lag read sets MetricsAvailable=False', () => {
    const d = decide(observed({ lag: { ok: false, error: 'broker down' } }), settings);
    expect(cond(d.status, 'MetricsAvailable')).toMatchObject({ status: 'False', reason: 'LagReadFailed' });
  });

  it('claimed product: Ready=False ProductClaimed with a Warning once', () => {
    const d = decide(observed({ productClaimedBy: 'shop/older' }), settings);
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'False', reason: 'ProductClaimed' });
    expect(kinds(d.actions)).toEqual(['event:ProductClaimed']);
    const again = decide(observed({ productClaimedBy: 'shop/older', sale: sale({}, d.status) }), settings);
    expect(again.actions).toEqual([]);
  });
});

describe('decide: recovery protocol', () => {
  const flushed = { ok: true as const, value: { runId: 'run-a', sale: EMPTY_REDIS } };
  const BARRIER = { '0': '17', '1': '4' };
  /** A recovery in progress, its barrier captured (in the status, where any leader finds it). */
  const recoveringStatus = (o: Partial<FlashSaleStatus> = {}) =>
    seededStatus({ phase: 'Recovering', recovery: { reason: 'RedisKeysMissing', startedAt: '2030-01-01T10:29:50Z', barrier: BARRIER }, ...o });
  const closedNoBarrier = (o: Partial<FlashSaleStatus> = {}) =>
    seededStatus({ phase: 'Recovering', recovery: { reason: 'StockLowered', startedAt: '2030-01-01T10:29:50Z' }, ...o });
  const gateClosed = { ok: true as const, value: { runId: 'run-a', sale: redisSale({ gate: 'recovering' }) } };

  const detections: Array<[string, Partial<Observed>, string]> = [
    ['keys missing (FLUSHALL)', { redis: flushed }, 'RedisKeysMissing'],
    ['run_id changed (restart, data kept)', { redis: { ok: true, value: { runId: 'run-b', sale: redisSale() } } }, 'RedisRestarted'],
    ['fenced, run_id unchanged (demoted, resynced, promoted again)', { redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ fenced: true }) } } }, 'RedisRestarted'],
    ['epoch changed (someone else seeded)', { redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ epoch: 4 }) } } }, 'EpochMismatch'],
    ['gate found recovering without a recovery in status', { redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ gate: 'recovering' }) } } }, 'InterruptedRecovery'],
    ['keys present but never seeded by the operator', { sale: sale({}, { observedGeneration: 1 }) }, 'NotSeededByUs'],
    ['keys missing after sales happened, never seeded by us', { sale: sale({}, undefined), postgres: { ok: true, value: product({ stock: 90 }) }, redis: flushed }, 'RedisKeysMissing'],
    ['Redis allocation above PostgreSQL', { redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ initialStock: 120 }) } } }, 'AllocationMismatch'],
  ];
  it.each(detections)('detects %s: closes the gate and waits (the barrier comes after the gate is seen closed)', (_n, o, reason) => {
    const d = decide(observed({ ...o, inFlight: 0 }), settings);
    expect(d.status.phase).toBe('Recovering');
    expect(d.status.recovery).toMatchObject({ reason, startedAt: '2030-01-01T10:30:00.000Z' });
    const gateAlreadyClosed = reason === 'InterruptedRecovery';
    expect(kinds(d.actions)).toEqual(['event:RecoveryStarted', gateAlreadyClosed ? 'captureDrainBarrier' : 'closeGate']);
    expect(d.actions.find((a) => a.kind === 'seed')).toBeUndefined();
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'False', reason: 'Recovering' });
    expect(cond(d.status, 'StockSeeded')).toMatchObject({ status: 'False', reason: 'Recovering' });
    expect(d.requeueAfterMs).toBe(1_000);
  });

  it('does not close an already closed gate nor announce the recovery twice', () => {
    const d = decide(observed({ sale: sale({}, recoveringStatus()), redis: { ok: true, value: { runId: 'run-a', sale: { ...EMPTY_REDIS, gate: 'recovering' } } }, drained: false, drainRemaining: 7 }), settings);
    expect(kinds(d.actions)).toEqual([]);
    expect(d.status.message).toBe('waiting for the workers to persist 7 orders accepted before the recovery began');
  });

  it('re-closes the gate if Redis lost it again mid-recovery, keeping the barrier (no keys: no order got in)', () => {
    const d = decide(observed({ sale: sale({}, recoveringStatus()), redis: flushed, drained: false }), settings);
    expect(kinds(d.actions)).toEqual(['closeGate']);
    expect(d.status.recovery?.barrier).toEqual(BARRIER);
  });

  it('a gate found open mid-recovery (failover to a stale replica) drops the barrier: orders got in after it', () => {
    const d = decide(observed({ sale: sale({}, recoveringStatus()), drained: true }), settings);
    expect(kinds(d.actions)).toEqual(['closeGate']);
    expect(d.status.recovery?.barrier).toBeUndefined();
    expect(d.actions.find((a) => a.kind === 'seed')).toBeUndefined();
  });

  // Defect 1: a produce that left the API before the gate closed may land after log-end offsets
  // read at once; the barrier waits until no reservation made before the gate is still in flight.
  const inFlightRows: Array<[string, Partial<Observed>, string[], string]> = [
    ['gate just closed, not yet seen closed', { redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ gate: 'open' }) } } }, ['closeGate'], 'closing the gate'],
    ['gate closed, reservations not counted yet', { redis: gateClosed }, [], 'counting the reservations still on their way to Kafka'],
    ['gate closed, 3 produces in flight', { redis: gateClosed, inFlight: 3 }, [], 'waiting for 3 orders accepted before the gate closed to reach Kafka'],
    ['gate closed, nothing in flight: barrier now', { redis: gateClosed, inFlight: 0 }, ['captureDrainBarrier'], 'waiting for the workers to drain the orders topic'],
  ];
  it.each(inFlightRows)('barrier: %s', (_n, o, actions, message) => {
    const d = decide(observed({ sale: sale({ stock: 90 }, closedNoBarrier()), ...o }), settings);
    expect(kinds(d.actions)).toEqual(actions);
    expect(d.status.message).toBe(message);
    expect(d.status.phase).toBe('Recovering');
    expect(d.actions.find((a) => a.kind === 'seed' || a.kind === 'lowerStockInPostgres')).toBeUndefined();
  });

  // Defect 4: the barrier is read from the status; no barrier there means none, whatever a
  // replica remembers from an earlier term.
  it('a drain reported without a barrier in the status is not trusted: the barrier is captured first', () => {
    const d = decide(observed({ sale: sale({}, closedNoBarrier({ recovery: { reason: 'RedisKeysMissing', startedAt: '2030-01-01T10:29:50Z' } })), redis: gateClosed, drained: true, inFlight: 0 }), settings);
    expect(kinds(d.actions)).toEqual(['captureDrainBarrier']);
  });

  it('a new recovery never inherits the barrier of an earlier one', () => {
    const d = decide(observed({ sale: sale({}, seededStatus({ recovery: { count: 1, barrier: BARRIER } })), redis: flushed, drained: true, inFlight: 0 }), settings);
    expect(d.status.recovery?.barrier).toBeUndefined();
    expect(d.actions.find((a) => a.kind === 'seed')).toBeUndefined();
  });

  it('never seeds while the lag cannot be read', () => {
    const d = decide(observed({ sale: sale({}, recoveringStatus()), redis: flushed, lag: { ok: false, error: 'timeout' }, drained: false }), settings);
    expect(d.actions.find((a) => a.kind === 'seed')).toBeUndefined();
    expect(d.status.message).toBe('waiting for a lag reading (timeout)');
  });

  it('once drained: seeds from PostgreSQL at a higher epoch than ever, reopens, records the duration', () => {
    const d = decide(
      observed({ sale: sale({}, recoveringStatus()), postgres: { ok: true, value: product({ stock: 58 }) }, redis: { ok: true, value: { runId: 'run-b', sale: EMPTY_REDIS } }, drained: true }),
      settings,
    );
    expect(d.actions.find((a) => a.kind === 'seed')).toMatchObject({ seed: { stock: 58, initialStock: 100, gate: 'open', minEpoch: 4 } });
    expect(kinds(d.actions)).toEqual(['closeGate', 'seed', 'auditPending', 'recoveryFinished', 'event:Recovered']);
    expect(d.status.recovery?.barrier).toBeUndefined();
    expect(d.actions).toContainEqual({ kind: 'recoveryFinished', reason: 'RedisKeysMissing', seconds: 10 });
    expect(d.status).toMatchObject({
      phase: 'Active',
      redis: { runId: 'run-b', epoch: 4 },
      stock: { postgres: 58, redis: 58, remaining: 58, sold: 42 },
      recovery: { count: 1, finishedAt: '2030-01-01T10:30:00.000Z', lastDurationSeconds: 10 },
    });
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'True', reason: 'Active' });
  });

  it('a recovery of a sold-out sale ends in SoldOut, never earlier', () => {
    const d = decide(observed({ sale: sale({}, recoveringStatus()), postgres: { ok: true, value: product({ stock: 0 }) }, redis: flushed, drained: true }), settings);
    expect(d.status.phase).toBe('SoldOut');
  });

  it('a recovery of a paused sale reseeds with the gate paused', () => {
    const d = decide(observed({ sale: sale({ paused: true }, recoveringStatus()), redis: flushed, drained: true }), settings);
    expect(d.actions.find((a) => a.kind === 'seed')).toMatchObject({ seed: { gate: 'paused' } });
    expect(d.status.phase).toBe('Paused');
  });
});

describe('decide: stock changes', () => {
  it('raising spec.stock adds the difference in PostgreSQL first (keyed on the old allocation)', () => {
    const d = decide(observed({ sale: sale({ stock: 150 }, seededStatus()) }), settings);
    expect(d.actions).toContainEqual({ kind: 'raiseStockInPostgres', productId: 'p1', from: 100, to: 150 });
    expect(kinds(d.actions)).toContain('event:Restocked');
    expect(d.requeueAfterMs).toBe(0);
  });

  it('then reflects the raise into Redis, keyed on the allocation Redis holds', () => {
    const d = decide(
      observed({ sale: sale({ stock: 150 }, seededStatus()), postgres: { ok: true, value: product({ stock: 130, initialStock: 150 }) }, redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ stock: 75 }) } } }),
      settings,
    );
    expect(d.actions).toEqual([{ kind: 'raiseStockInRedis', productId: 'p1', from: 100, to: 150 }]);
    expect(d.status.stock).toMatchObject({ redis: 125, allocated: 150 });
  });

  it('a raise already applied everywhere does nothing (operator restart)', () => {
    const d = decide(
      observed({ sale: sale({ stock: 150 }, seededStatus()), postgres: { ok: true, value: product({ stock: 150, initialStock: 150 }) }, redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ stock: 150, initialStock: 150 }) } } }),
      settings,
    );
    expect(d.actions).toEqual([]);
  });

  it('lowering below what is sold (in flight included) is refused with Ready=False and a Warning', () => {
    const d = decide(
      observed({ sale: sale({ stock: 30 }, seededStatus()), postgres: { ok: true, value: product({ stock: 75 }) }, redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ stock: 60 }) } } }),
      settings,
    );
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'False', reason: 'StockBelowSold' });
    expect(kinds(d.actions)).toContain('event:StockBelowSold');
    expect(d.actions.find((a) => a.kind === 'lowerStockInPostgres')).toBeUndefined();
    expect(d.status.phase).toBe('Active');
  });

  it('lowering above what is sold goes through gate and drain, then lowers PostgreSQL', () => {
    const start = decide(observed({ sale: sale({ stock: 80 }, seededStatus()), postgres: { ok: true, value: product({ stock: 90 }) }, redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ stock: 90 }) } } }), settings);
    expect(start.status.recovery?.reason).toBe('StockLowered');
    expect(kinds(start.actions)).toEqual(expect.arrayContaining(['closeGate']));
    const withBarrier = { ...start.status, recovery: { ...start.status.recovery, barrier: { '0': '5' } } };
    const drained = decide(
      observed({ sale: sale({ stock: 80 }, withBarrier), postgres: { ok: true, value: product({ stock: 90 }) }, redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ stock: 90, gate: 'recovering' }) } }, drained: true }),
      settings,
    );
    expect(drained.actions).toContainEqual({ kind: 'lowerStockInPostgres', productId: 'p1', from: 100, to: 80 });
    const seeded = decide(
      observed({ sale: sale({ stock: 80 }, drained.status), postgres: { ok: true, value: product({ stock: 70, initialStock: 80 }) }, redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ stock: 90, gate: 'recovering' }) } }, drained: true }),
      settings,
    );
    expect(seeded.actions.find((a) => a.kind === 'seed')).toMatchObject({ seed: { stock: 70, initialStock: 80 } });
    expect(seeded.status.phase).toBe('Active');
  });
});

describe('decide: audit', () => {
  const mismatch = (o: Partial<Observed> = {}) =>
    observed({ redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ stock: 97 }) } }, ...o });

  it('in sync at lag 0: Consistent=True', () => {
    expect(cond(decide(observed(), settings).status, 'Consistent')).toMatchObject({ status: 'True', reason: 'InSync' });
  });

  it('not audited while orders are in flight', () => {
    const d = decide(mismatch({ lag: { ok: true, value: { total: 3, partitions: 6, partitionsWithLag: 1 } } }), settings);
    expect(cond(d.status, 'Consistent')).toMatchObject({ status: 'Unknown', reason: 'NotAudited' });
    expect(d.actions).toEqual([]);
  });

  it('a first mismatch at lag 0 is only suspected: no condition change, no Event, a second read is scheduled', () => {
    const d = decide(mismatch(), settings);
    expect(cond(d.status, 'Consistent')).toBeUndefined();
    expect(d.actions).toEqual([{ kind: 'auditPending', value: { redis: 97, postgres: 100, sinceMs: NOW.getTime() } }]);
    expect(d.requeueAfterMs).toBe(10_000);
    expect(d.status.phase).toBe('Active');
  });

  it('a second read too soon changes nothing', () => {
    const d = decide(mismatch({ auditPending: { redis: 97, postgres: 100, sinceMs: NOW.getTime() - 9_999 } }), settings);
    expect(d.status.phase).toBe('Active');
    expect(d.actions).toEqual([]);
  });

  it('two agreeing reads far enough apart: Consistent=False with both numbers, a Warning, and the repair through the recovery protocol', () => {
    const d = decide(mismatch({ auditPending: { redis: 97, postgres: 100, sinceMs: NOW.getTime() - 10_000 } }), settings);
    const msg = 'Redis holds 97 units but PostgreSQL 100, with no order in flight (two reads 10 s apart)';
    expect(cond(d.status, 'Consistent')).toMatchObject({ status: 'False', reason: 'StockMismatch', message: msg });
    expect(d.actions[0]).toEqual({ kind: 'event', type: 'Warning', reason: 'Inconsistent', message: `${msg}; reseeding Redis from PostgreSQL` });
    expect(d.status).toMatchObject({ phase: 'Recovering', recovery: { reason: 'AuditMismatch' } });
    expect(kinds(d.actions)).toEqual(['event:Inconsistent', 'event:RecoveryStarted', 'closeGate']);
  });

  it('after the repair the sale is Consistent again', () => {
    const repairing = decide(mismatch({ auditPending: { redis: 97, postgres: 100, sinceMs: NOW.getTime() - 10_000 } }), settings);
    const done = decide(
      observed({ sale: sale({}, { ...repairing.status, recovery: { ...repairing.status.recovery, barrier: { '0': '5' } } }), redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ stock: 97, gate: 'recovering' }) } }, drained: true }),
      settings,
    );
    expect(done.actions.find((a) => a.kind === 'seed')).toMatchObject({ seed: { stock: 100, minEpoch: 4 } });
    expect(cond(done.status, 'Consistent')).toMatchObject({ status: 'True', reason: 'Reseeded' });
    expect(done.status.phase).toBe('Active');
  });

  it('reads that disagree restart the confirmation', () => {
    const d = decide(mismatch({ auditPending: { redis: 98, postgres: 100, sinceMs: 0 } }), settings);
    expect(d.actions).toContainEqual({ kind: 'auditPending', value: { redis: 97, postgres: 100, sinceMs: NOW.getTime() } });
    expect(d.status.phase).toBe('Active');
  });

  it('back in sync clears the pending mismatch', () => {
    const d = decide(observed({ auditPending: { redis: 97, postgres: 100, sinceMs: 0 } }), settings);
    expect(d.actions).toEqual([{ kind: 'auditPending', value: undefined }]);
  });
});

describe('decide: gate, settings and phases', () => {
  it('pausing closes the gate with state paused', () => {
    const d = decide(observed({ sale: sale({ paused: true }, seededStatus()) }), settings);
    expect(d.actions).toContainEqual({ kind: 'closeGate', productId: 'p1', state: 'paused' });
    expect(d.status.phase).toBe('Paused');
  });

  it('unpausing reopens the gate', () => {
    const d = decide(observed({ sale: sale({}, seededStatus({ phase: 'Paused' })), redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ gate: 'paused' }) } } }), settings);
    expect(kinds(d.actions)).toEqual(['openGate', 'event:Resumed', 'event:Active']);
  });

  it('changed limits go to PostgreSQL and to Redis without touching the stock', () => {
    const d = decide(observed({ sale: sale({ limits: { perUser: 2, rateLimitPerSecond: 500 } }, seededStatus()) }), settings);
    expect(kinds(d.actions)).toEqual(['ensureProduct', 'configureRedis']);
    expect(d.actions[1]).toEqual({
      kind: 'configureRedis', productId: 'p1', perUserLimit: 2, rateLimitPerSecond: 500, startsAtMs: null, endsAtMs: null,
      admission: { mode: 'direct', ratePerSecond: null, tokenTtlSeconds: null, maxQueue: null },
    });
  });

  it('spec.admission goes to Redis only (not PostgreSQL), with the token TTL default', () => {
    const d = decide(observed({ sale: sale({ admission: { mode: 'queue', ratePerSecond: 50 } }, seededStatus()) }), settings);
    expect(d.actions).toEqual([{
      kind: 'configureRedis', productId: 'p1', perUserLimit: 1, rateLimitPerSecond: null, startsAtMs: null, endsAtMs: null,
      admission: { mode: 'queue', ratePerSecond: 50, tokenTtlSeconds: 120, maxQueue: null },
    }]);
  });

  it('a first seed carries the admission settings', () => {
    const d = decide(observed({ sale: sale({ admission: { mode: 'queue-randomized-start', ratePerSecond: 5, maxQueue: 9 } }), redis: { ok: true, value: { runId: 'r', sale: EMPTY_REDIS } } }), settings);
    expect(d.actions.find((a) => a.kind === 'seed')).toMatchObject({ seed: { admission: { mode: 'queue-randomized-start', ratePerSecond: 5, tokenTtlSeconds: 120, maxQueue: 9 } } });
  });

  it('an admission the CRD would refuse (stored past the schema) touches nothing and says why', () => {
    const d = decide(observed({ sale: sale({ admission: { mode: 'queue' } }, seededStatus()) }), settings);
    expect(d.actions).toEqual([]);
    expect(d.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidAdmission', message: 'spec.admission.ratePerSecond is required with mode queue' });
  });

  it('status.admission: waiting, admitted, the rate measured since the last reading, the wait at the back', () => {
    const queued = { admission: { mode: 'queue', ratePerSecond: 10 } };
    const adm = { mode: 'queue' as const, ratePerSecond: 10, tokenTtlSeconds: 120, maxQueue: null };
    const prevAt = new Date(NOW.getTime() - 10_000).toISOString();
    const d = decide(observed({
      sale: sale(queued, seededStatus({ admission: { waiting: 500, admitted: 100, rateMeasured: 0, estimatedWaitSeconds: 50, observedAt: prevAt } })),
      redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ admission: adm, queue: { waiting: 450, admitted: 200 } }) } },
    }), settings);
    expect(d.status.admission).toEqual({ waiting: 450, admitted: 200, rateMeasured: 10, estimatedWaitSeconds: 45, observedAt: NOW.toISOString() });
    const direct = decide(observed({ sale: sale({}, seededStatus({ admission: d.status.admission })) }), settings);
    expect(direct.status.admission).toBeUndefined();
  });

  const windows: Array<[string, Partial<FlashSale['spec']>, number, string]> = [
    ['before startsAt', { startsAt: '2030-01-01T11:00:00Z' }, 100, 'Pending'],
    ['inside the window', { startsAt: '2030-01-01T10:00:00Z', endsAt: '2030-01-01T11:00:00Z' }, 100, 'Active'],
    ['at endsAt exactly', { endsAt: '2030-01-01T10:30:00Z' }, 100, 'Ended'],
    ['sold out', {}, 0, 'SoldOut'],
    ['ended beats sold out', { endsAt: '2030-01-01T10:00:00Z' }, 0, 'Ended'],
    ['paused beats everything', { paused: true, endsAt: '2030-01-01T10:00:00Z' }, 0, 'Paused'],
  ];
  it.each(windows)('phase %s', (_n, spec, remaining, phase) => {
    expect(phaseOf(observed({ sale: sale(spec) }), remaining)).toBe(phase);
  });

  it('requeues exactly at the next boundary', () => {
    const spec = { startsAt: '2030-01-01T10:31:00Z', endsAt: '2030-01-01T11:00:00Z' };
    const d = decide(
      observed({ sale: sale(spec, seededStatus()), postgres: { ok: true, value: product({ startsAt: spec.startsAt, endsAt: spec.endsAt }) }, redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ startsAtMs: Date.parse(spec.startsAt), endsAtMs: Date.parse(spec.endsAt) }) } } }),
      settings,
    );
    expect(d.status.phase).toBe('Pending');
    expect(d.requeueAfterMs).toBe(60_050);
  });

  it('emits an Event when the phase changes (sold out)', () => {
    const d = decide(observed({ postgres: { ok: true, value: product({ stock: 0 }) }, redis: { ok: true, value: { runId: 'run-a', sale: redisSale({ stock: 0 }) } } }), settings);
    expect(d.actions).toContainEqual({ kind: 'event', type: 'Normal', reason: 'SoldOut', message: 'every unit is reserved' });
  });

  it('lastTransitionTime only moves when the status changes', () => {
    const first = decide(observed(), settings);
    const later = decide(observed({ now: new Date('2030-01-01T10:40:00Z'), sale: sale({}, first.status) }), settings);
    expect(cond(later.status, 'Ready')?.lastTransitionTime).toBe('2030-01-01T10:30:00Z');
    const down = decide(observed({ now: new Date('2030-01-01T10:41:00Z'), sale: sale({}, later.status), redis: { ok: false, error: 'x' } }), settings);
    expect(cond(down.status, 'Ready')?.lastTransitionTime).toBe('2030-01-01T10:41:00Z');
  });
});

describe('decide: workers status', () => {
  const withWorkers = (status = seededStatus()) =>
    sale({ workers: { deployment: 'w', minReplicas: 1, maxReplicas: 10, lagPerReplica: 100, activationLag: 0, scaleDownStabilizationSeconds: 60 } }, status);

  const cases: Array<[string, Observed['workers'], string, string]> = [
    ['not read yet', undefined, 'Unknown', 'Pending'],
    ['as desired', { deployment: 'w', replicas: 6, desired: 6, cap: 'partitions' }, 'True', 'AsDesired'],
    ['holding for the window', { deployment: 'w', replicas: 4, desired: 2, cap: 'stabilization' }, 'True', 'StabilizationWindow'],
    ['metrics unavailable', { deployment: 'w', replicas: 4, desired: 4, cap: 'metricsUnavailable' }, 'False', 'MetricsUnavailable'],
    ['deployment missing', { deployment: 'w', error: { reason: 'DeploymentNotFound', message: 'no Deployment shop/w' } }, 'False', 'DeploymentNotFound'],
  ];
  it.each(cases)('%s', (_n, workers, status, reason) => {
    const d = decide(observed({ sale: withWorkers(), workers }), settings);
    expect(cond(d.status, 'WorkersScaled')).toMatchObject({ status, reason });
  });

  it("status shows the binding cap and the sale's own lag (its partition's), not the group's total", () => {
    const d = decide(
      observed({
        sale: withWorkers(),
        lag: { ok: true, value: { total: 900, partitions: 6, partitionsWithLag: 4, own: { partition: 2, lag: 120 } } },
        workers: { deployment: 'w', replicas: 6, desired: 6, cap: 'partitions' },
      }),
      settings,
    );
    expect(d.status.workers).toEqual({ deployment: 'w', replicas: 6, desired: 6, cap: 'partitions', lag: 120, partition: 2, partitions: 6, partitionsWithLag: 4 });
  });

  it('clears the scaler fields of an earlier state: a refused Deployment keeps no replicas, desired or cap', () => {
    const before = seededStatus({ workers: { deployment: 'w', replicas: 6, desired: 6, cap: 'partitions', lag: 5, partition: 1, partitions: 6, partitionsWithLag: 1 } });
    const lag = { ok: true as const, value: { total: 0, partitions: 6, partitionsWithLag: 0, own: { partition: 1, lag: 0 } } };
    const refused = decide(observed({ sale: withWorkers(before), lag, workers: { deployment: 'w', error: { reason: 'NotOptedIn', message: 'x' } } }), settings);
    expect(refused.status.workers).toEqual({ deployment: 'w', lag: 0, partition: 1, partitions: 6, partitionsWithLag: 0 });
    const unconfigured = decide(observed({ sale: sale({}, before), lag }), settings);
    expect(unconfigured.status.workers).toEqual({ lag: 0, partition: 1, partitions: 6, partitionsWithLag: 0 });
  });

  it('keeps the last good lag in the status when the read fails', () => {
    const d = decide(observed({ sale: withWorkers(seededStatus({ workers: { lag: 321 } })), lag: { ok: false, error: 'x' } }), settings);
    expect(d.status.workers?.lag).toBe(321);
  });

  it('a sale without spec.workers reports NotConfigured', () => {
    expect(cond(decide(observed(), settings).status, 'WorkersScaled')).toMatchObject({ status: 'True', reason: 'NotConfigured' });
  });
});

describe('withDefaults', () => {
  it('fills in what the CRD would have defaulted, keeping what is set', async () => {
    const { withDefaults } = await import('./defaults.js');
    const s = withDefaults(sale({ limits: undefined, workers: { deployment: 'w', maxReplicas: 3 } as never }));
    expect(s.spec).toMatchObject({
      paused: false,
      limits: { perUser: 1 },
      workers: { deployment: 'w', minReplicas: 1, maxReplicas: 3, lagPerReplica: 100, activationLag: 0, scaleDownStabilizationSeconds: 60 },
    });
  });
});

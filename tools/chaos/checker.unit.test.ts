// Table tests of the chaos checker: one hand-made history per invariant shows the violation is
// detected (a checker that cannot fail proves nothing), and a clean history passes.
import { describe, expect, it } from 'vitest';
import { check, type Invariant } from './checker.js';
import type { Attempt, PgOrder, RunRecord } from './history.js';

const P = 'sale-a';
const bound = { livenessBoundMs: 10_000 };

function attempt(t: number, key: string, outcome: Attempt['outcome'], extra: Partial<Attempt> = {}): Attempt {
  return { t0: t, t1: t + 5, api: 'api-1', productId: P, userId: `user-${key}`, key, quantity: 1, outcome, ...extra };
}
const ok = (t: number, key: string, orderId: string, extra: Partial<Attempt> = {}) => attempt(t, key, 200, { answer: 'success', orderId, ...extra });
const soldOut = (t: number, key: string) => attempt(t, key, 409, { answer: 'sold_out' });
function row(id: string, key: string, status: PgOrder['status'] = 'confirmed', extra: Partial<PgOrder> = {}): PgOrder {
  return { id, productId: P, userId: `user-${key}`, key, quantity: 1, status, rejectReason: status === 'rejected' ? 'out_of_stock' : null, ...extra };
}

/** Stock 2, two buyers served, sold out after the restock at t=1000: passes every invariant. */
function clean(): RunRecord {
  return {
    seed: 1,
    startedAt: '2026-01-01T00:00:00Z',
    healedAt: 900,
    endedAt: 5000,
    attempts: [attempt(100, 'k1', 503, { answer: 'recovering' }), ok(200, 'k1', 'o1'), ok(1100, 'k2', 'o2'), soldOut(1200, 'k3')],
    faults: [{ t: 50, tEnd: 50, kind: 'kill-api', target: 'api-1', injected: true }],
    sales: [{ name: 'a', productId: P, stock: 2, perUser: 1, restockAt: 1000 }],
    final: {
      orders: [row('o1', 'k1'), row('o2', 'k2')],
      products: [{ id: P, stock: 0, initialStock: 2 }],
      redis: [{ productId: P, stock: 0 }],
      quiescent: true,
    },
  };
}

type Mutation = (r: RunRecord) => void;
const cases: Array<[string, Invariant, Mutation]> = [
  ['a third confirmed order on stock 2', 'oversold', (r) => {
    r.final.orders.push(row('o3', 'k3'));
    r.final.products[0]!.stock = -1;
  }],
  ['an orderId answered 200 with no row', 'lost', (r) => {
    r.final.orders = r.final.orders.filter((o) => o.id !== 'o2');
    r.final.products[0]!.stock = 1;
    r.final.redis[0]!.stock = 1;
  }],
  ['an orderId answered 200 stored rejected', 'brokenPromises', (r) => {
    r.final.orders[1] = row('o2', 'k2', 'rejected');
    r.final.products[0]!.stock = 1;
    r.final.redis[0]!.stock = 1;
  }],
  ['two confirmed orders for one key', 'duplicates', (r) => {
    r.sales[0]!.stock = 3;
    r.final.products[0]!.initialStock = 3;
    r.final.orders.push(row('o1b', 'k1'));
  }],
  ['one key answered 200 with two orderIds', 'duplicates', (r) => {
    r.attempts.push(ok(300, 'k1', 'o1-again'));
    r.final.orders.push(row('o1-again', 'k1', 'rejected', { rejectReason: 'duplicate' }));
  }],
  ['a user over the per-user limit', 'perUserOverLimit', (r) => {
    r.final.orders[1]!.userId = 'user-k1';
  }],
  ['Redis holds one unit more than PostgreSQL', 'stockNotConserved', (r) => {
    r.final.redis[0]!.stock = 1;
  }],
  ['PostgreSQL stock disagrees with the allocation', 'stockNotConserved', (r) => {
    r.final.products[0]!.stock = 1;
    r.final.redis[0]!.stock = 1;
  }],
  ['the Redis stock key is missing', 'stockNotConserved', (r) => {
    r.final.redis[0]!.stock = null;
  }],
  ['no quiescence before reading', 'stockNotConserved', (r) => {
    r.final.quiescent = false;
  }],
  ['no sale after the restock', 'liveness', (r) => {
    r.attempts = r.attempts.filter((a) => a.key !== 'k2');
    r.attempts.push(attempt(1100, 'k2', 503, { answer: 'recovering' }));
    r.final.orders.pop();
    r.final.products[0]!.stock = 1;
    r.final.redis[0]!.stock = 1;
  }],
  ['the first sale after the restock comes after the bound', 'liveness', (r) => {
    r.attempts[2] = ok(20_000, 'k2', 'o2');
    r.attempts[3] = soldOut(21_000, 'k3');
  }],
  ['sold after the restock but never sold out', 'liveness', (r) => {
    r.attempts.pop();
  }],
  ['sold again in time but sold out only after the bound', 'liveness', (r) => {
    r.attempts[3] = soldOut(12_000, 'k3');
  }],
];

describe('chaos checker', () => {
  it('passes a clean history with every count at 0', () => {
    const v = check(clean(), bound);
    expect(v.violations).toEqual([]);
    expect(v.ok).toBe(true);
    expect(Object.values(v.counts).every((n) => n === 0)).toBe(true);
    expect(v.answers).toEqual({ '503 recovering': 1, '200': 2, '409 sold_out': 1 });
  });

  it.each(cases)('detects %s as %s', (_name, invariant, mutate) => {
    const r = clean();
    mutate(r);
    const v = check(r, bound);
    expect(v.ok).toBe(false);
    expect(v.counts[invariant]).toBeGreaterThan(0);
    expect(v.firstOffender).toBeDefined();
    expect(v.firstByInvariant[invariant]?.violation.invariant).toBe(invariant);
  });

  it('gives the whole history of the first offending key', () => {
    const r = clean();
    r.attempts.push(attempt(150, 'k9', 'timeout'), ok(400, 'k9', 'o9'));
    r.final.orders.push(row('o9', 'k9', 'rejected'));
    r.sales[0]!.stock = 3;
    r.final.products[0]!.initialStock = 3;
    r.final.products[0]!.stock = 1;
    r.final.redis[0]!.stock = 1;
    const v = check(r, bound);
    expect(v.firstOffender?.violation.invariant).toBe('brokenPromises');
    expect(v.firstOffender?.attempts.map((a) => a.outcome)).toEqual(['timeout', 200]);
    expect(v.firstOffender?.rows.map((o) => o.id)).toEqual(['o9']);
  });

  it('measures recovery from each fault to the next new 200, and outages between 200s', () => {
    const r = clean();
    const v = check(r, { ...bound, outageGapMs: 100 });
    expect(v.recovery.perFault).toEqual([{ kind: 'kill-api', target: 'api-1', t: 50, ms: 155 }]);
    expect(v.recovery.p50Ms).toBe(155);
    expect(v.outages).toEqual([{ from: 105, to: 205 }]); // the 503 before the first 200; the quiet stretch before the restock is no outage
    expect(v.faults).toEqual({ 'kill-api': 1 });
  });
});

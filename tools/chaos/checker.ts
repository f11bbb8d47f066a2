// The independent checker of a chaos run: judges only the clients' record and the final rows and
// keys, never what Flux-Gate says about itself. Pure: same record in, same verdict out.
// Invariants (each a count in the verdict; any non-zero count fails the run):
//   oversold          confirmed units of a sale > the stock we allocated (spec.stock)
//   lost              an orderId answered 200 has no row in PostgreSQL
//   brokenPromises    an orderId answered 200 is stored rejected
//   duplicates        a sale+key with more than one confirmed order, or answered 200 with two orderIds
//   perUserOverLimit  a user of a sale with more confirmed units than spec.limits.perUser
//   stockNotConserved at quiescence: PostgreSQL stock ≠ allocation − confirmed, or Redis ≠ PostgreSQL
//   liveness          after the faults were healed and the sale restocked (a few units left), no new 200 within the
//                     bound of the restock, or no sold_out answer (after that 200) within the same bound
import type { Attempt, PgOrder, RunRecord, SaleSpec } from './history.js';

export const INVARIANTS = ['oversold', 'lost', 'brokenPromises', 'duplicates', 'perUserOverLimit', 'stockNotConserved', 'liveness'] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface Violation {
  invariant: Invariant;
  productId: string;
  /** Run-relative ms the offence is first visible at in the client record (Infinity when only the final state shows it). */
  t: number;
  key?: string;
  userId?: string;
  orderId?: string;
  message: string;
}

export interface OrderHistory {
  violation: Violation;
  /** Every attempt of the offending key (or user), in time order. */
  attempts: Attempt[];
  /** Its rows in PostgreSQL. */
  rows: PgOrder[];
}

export interface Recovery {
  kind: string;
  target: string;
  t: number;
  /** ms from the fault until the next new 200 (undefined: nothing sold after it). */
  ms?: number;
}

export interface Verdict {
  ok: boolean;
  counts: Record<Invariant, number>;
  violations: Violation[];
  firstOffender?: OrderHistory;
  /** The earliest offending order of each violated invariant (the first offender is one of them). */
  firstByInvariant: Partial<Record<Invariant, OrderHistory>>;
  answers: Record<string, number>;
  faults: Record<string, number>;
  recovery: { p50Ms?: number; maxMs?: number; perFault: Recovery[] };
  /** Stretches of the run with no new 200 for longer than the gap (for the timeline). */
  outages: Array<{ from: number; to: number }>;
  sales: Array<{ productId: string; allocated: number; confirmed: number; pgStock?: number; redisStock?: number | null; promised: number; firstSaleAfterRestockMs?: number; soldOutAfterRestockMs?: number }>;
}

export interface CheckOptions {
  /** A healed, restocked sale must answer a new 200, and then sold_out, each within this many ms of the restock. */
  livenessBoundMs: number;
  /** A gap between new 200s longer than this is drawn as an outage. */
  outageGapMs?: number;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const saleKey = (productId: string, key: string) => `${productId}\n${key}`;
const isNew200 = (a: Attempt) => a.outcome === 200 && a.orderId !== undefined && !a.replayed;

function groupBy<T>(items: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of items) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** First 200 per orderId: the promise the system made. */
function promises(attempts: Attempt[]): Map<string, Attempt> {
  const m = new Map<string, Attempt>();
  for (const a of attempts) if (a.outcome === 200 && a.orderId && !m.has(a.orderId)) m.set(a.orderId, a);
  return m;
}

function checkPromises(r: RunRecord, out: Violation[]): void {
  const byId = new Map(r.final.orders.map((o) => [o.id, o]));
  for (const [orderId, a] of promises(r.attempts)) {
    const row = byId.get(orderId);
    const base = { productId: a.productId, t: a.t1, key: a.key, userId: a.userId, orderId };
    if (!row) out.push({ ...base, invariant: 'lost', message: `orderId ${orderId} was answered 200 but PostgreSQL has no row for it` });
    else if (row.status !== 'confirmed') out.push({ ...base, invariant: 'brokenPromises', message: `orderId ${orderId} was answered 200 but is stored rejected (${row.rejectReason})` });
  }
}

function checkDuplicates(r: RunRecord, out: Violation[]): void {
  const confirmed = r.final.orders.filter((o) => o.status === 'confirmed');
  for (const rows of groupBy(confirmed, (o) => saleKey(o.productId, o.key)).values()) {
    if (rows.length < 2) continue;
    const o = rows[0]!;
    out.push({ invariant: 'duplicates', productId: o.productId, key: o.key, userId: o.userId, t: firstSeen(r.attempts, o.productId, o.key), message: `key ${o.key} has ${rows.length} confirmed orders: ${rows.map((x) => x.id).join(', ')}` });
  }
  const answered = groupBy(r.attempts.filter((a) => a.outcome === 200 && a.orderId), (a) => saleKey(a.productId, a.key));
  for (const list of answered.values()) {
    const ids = [...new Set(list.map((a) => a.orderId!))];
    if (ids.length < 2) continue;
    const second = list.find((a) => a.orderId !== ids[0])!;
    out.push({ invariant: 'duplicates', productId: second.productId, key: second.key, userId: second.userId, orderId: second.orderId, t: second.t1, message: `key ${second.key} was answered 200 with ${ids.length} different orderIds: ${ids.join(', ')}` });
  }
}

function firstSeen(attempts: Attempt[], productId: string, key: string): number {
  const a = attempts.find((x) => x.productId === productId && x.key === key);
  return a ? a.t0 : Infinity;
}

function confirmedUnits(r: RunRecord, productId: string): number {
  return sum(r.final.orders.filter((o) => o.productId === productId && o.status === 'confirmed').map((o) => o.quantity));
}

function checkStock(r: RunRecord, s: SaleSpec, out: Violation[]): void {
  const confirmed = confirmedUnits(r, s.productId);
  const v = (invariant: Invariant, message: string): void => void out.push({ invariant, productId: s.productId, t: Infinity, message });
  if (confirmed > s.stock) v('oversold', `${confirmed} units confirmed, ${s.stock} allocated: ${confirmed - s.stock} oversold`);
  const product = r.final.products.find((p) => p.id === s.productId);
  const redis = r.final.redis.find((x) => x.productId === s.productId);
  if (!r.final.quiescent) v('stockNotConserved', 'the run never reached quiescence (Kafka lag 0 and every 200 in PostgreSQL): stock cannot be compared');
  if (!product) return v('stockNotConserved', 'PostgreSQL has no product row');
  if (product.initialStock !== s.stock) v('stockNotConserved', `PostgreSQL initial_stock ${product.initialStock} ≠ spec.stock ${s.stock}`);
  if (product.stock !== s.stock - confirmed) v('stockNotConserved', `PostgreSQL stock ${product.stock} ≠ allocated ${s.stock} − confirmed ${confirmed} = ${s.stock - confirmed}`);
  if (redis?.stock !== product.stock) v('stockNotConserved', `Redis stock ${redis?.stock ?? 'missing'} ≠ PostgreSQL stock ${product.stock}`);
}

function checkPerUser(r: RunRecord, s: SaleSpec, out: Violation[]): void {
  const mine = r.final.orders.filter((o) => o.productId === s.productId && o.status === 'confirmed');
  for (const [userId, rows] of groupBy(mine, (o) => o.userId)) {
    const units = sum(rows.map((o) => o.quantity));
    if (units <= s.perUser) continue;
    const t = Math.min(...rows.map((o) => firstSeen(r.attempts, o.productId, o.key)));
    out.push({ invariant: 'perUserOverLimit', productId: s.productId, userId, t, message: `user ${userId} has ${units} confirmed units, limit ${s.perUser} (orders ${rows.map((o) => o.id).join(', ')})` });
  }
}

/** ms from the restock to the first new 200 and to the first sold_out after it (undefined: never). */
interface Liveness {
  firstSale?: number;
  soldOut?: number;
}

function checkLiveness(r: RunRecord, s: SaleSpec, opts: CheckOptions, out: Violation[]): Liveness {
  if (s.restockAt === undefined) return {};
  const after = r.attempts.filter((a) => a.productId === s.productId && a.t0 >= s.restockAt!);
  const first = after.find(isNew200);
  const ms = first ? first.t1 - s.restockAt : undefined;
  const v = (message: string): void => void out.push({ invariant: 'liveness', productId: s.productId, t: s.restockAt! + opts.livenessBoundMs, message });
  if (ms === undefined || ms > opts.livenessBoundMs) v(`no new 200 within ${opts.livenessBoundMs} ms of the restock after the last fault (${ms === undefined ? 'none at all' : `first after ${ms} ms`})`);
  const soldOut = first && after.find((a) => a.t0 >= first.t1 && a.outcome === 409 && a.answer === 'sold_out');
  const soldOutMs = soldOut ? soldOut.t1 - s.restockAt : undefined;
  if (ms !== undefined && ms <= opts.livenessBoundMs) {
    if (soldOutMs === undefined) v('sold again after the faults but was never answered sold_out: it did not sell out');
    else if (soldOutMs > opts.livenessBoundMs) v(`sold out only ${soldOutMs} ms after the restock (bound ${opts.livenessBoundMs} ms)`);
  }
  return { firstSale: ms, soldOut: soldOutMs };
}

function answerLabel(a: Attempt): string {
  if (typeof a.outcome !== 'number') return a.outcome;
  if (a.outcome === 200) return a.replayed ? '200 replayed' : '200';
  return a.answer ? `${a.outcome} ${a.answer}` : String(a.outcome);
}

function countBy<T>(items: T[], label: (x: T) => string): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of items) m[label(x)] = (m[label(x)] ?? 0) + 1;
  return m;
}

function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Per fault: how long until anything sold again (a new 200 sent after the fault started). */
export function recoveries(r: RunRecord): Verdict['recovery'] {
  const sold = r.attempts.filter(isNew200).sort((a, b) => a.t1 - b.t1);
  const perFault: Recovery[] = r.faults.filter((f) => f.injected).map((f) => {
    const next = sold.find((a) => a.t0 >= f.t);
    return { kind: f.kind, target: f.target, t: f.t, ms: next ? next.t1 - f.t : undefined };
  });
  const ms = perFault.flatMap((x) => (x.ms === undefined ? [] : [x.ms])).sort((a, b) => a - b);
  return { p50Ms: percentile(ms, 0.5), maxMs: ms[ms.length - 1], perFault };
}

/** Answers that mean "not now" (the buyer retries), as opposed to a final no (sold out, limit). */
const unavailable = (a: Attempt) => typeof a.outcome !== 'number' || a.outcome === 429 || a.outcome >= 500;

/**
 * Outages: gaps between consecutive new 200s longer than gapMs in which buyers were told "not now"
 * (503, 5xx, 429, timeout, reset), narrowed to the span of those answers. A sold-out sale is no outage.
 */
export function outages(r: RunRecord, gapMs: number): Verdict['outages'] {
  const times = [0, ...r.attempts.filter(isNew200).map((a) => a.t1).sort((a, b) => a - b), r.endedAt];
  const refused = r.attempts.filter(unavailable).map((a) => a.t1).sort((a, b) => a - b);
  const out: Verdict['outages'] = [];
  for (let i = 1; i < times.length; i++) {
    if (times[i]! - times[i - 1]! <= gapMs) continue;
    const inside = refused.filter((t) => t > times[i - 1]! && t < times[i]!);
    if (inside.length > 0) out.push({ from: inside[0]!, to: i === times.length - 1 ? inside[inside.length - 1]! : times[i]! });
  }
  return out;
}

function historyOf(r: RunRecord, v: Violation): OrderHistory {
  const mine = (x: { productId: string; key?: string; userId?: string }) =>
    x.productId === v.productId && (v.key !== undefined ? x.key === v.key : v.userId !== undefined && x.userId === v.userId);
  return {
    violation: v,
    attempts: r.attempts.filter(mine).sort((a, b) => a.t0 - b.t0),
    rows: r.final.orders.filter((o) => mine(o) || (v.orderId !== undefined && o.id === v.orderId)),
  };
}

export function check(r: RunRecord, opts: CheckOptions): Verdict {
  const violations: Violation[] = [];
  checkPromises(r, violations);
  checkDuplicates(r, violations);
  const liveness = new Map<string, Liveness>();
  for (const s of r.sales) {
    checkStock(r, s, violations);
    checkPerUser(r, s, violations);
    liveness.set(s.productId, checkLiveness(r, s, opts, violations));
  }
  violations.sort((a, b) => a.t - b.t);
  const counts = Object.fromEntries(INVARIANTS.map((i) => [i, violations.filter((v) => v.invariant === i).length])) as Record<Invariant, number>;
  const first = violations.find((v) => v.key !== undefined || v.userId !== undefined) ?? violations[0];
  const promised = promises(r.attempts);
  return {
    ok: violations.length === 0,
    counts,
    violations,
    firstOffender: first ? historyOf(r, first) : undefined,
    firstByInvariant: Object.fromEntries(INVARIANTS.flatMap((i) => {
      const v = violations.find((x) => x.invariant === i);
      return v ? [[i, historyOf(r, v)]] : [];
    })),
    answers: countBy(r.attempts, answerLabel),
    faults: countBy(r.faults.filter((f) => f.injected), (f) => f.kind),
    recovery: recoveries(r),
    outages: outages(r, opts.outageGapMs ?? 2000),
    sales: r.sales.map((s) => ({
      productId: s.productId,
      allocated: s.stock,
      confirmed: confirmedUnits(r, s.productId),
      pgStock: r.final.products.find((p) => p.id === s.productId)?.stock,
      redisStock: r.final.redis.find((x) => x.productId === s.productId)?.stock,
      promised: [...promised.values()].filter((a) => a.productId === s.productId).length,
      firstSaleAfterRestockMs: liveness.get(s.productId)?.firstSale,
      soldOutAfterRestockMs: liveness.get(s.productId)?.soldOut,
    })),
  };
}

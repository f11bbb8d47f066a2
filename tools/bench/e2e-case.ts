// The end-to-end case: R requests from B distinct buyers for U units over S concurrent sales, through
// our API and our worker (built CLI) on the stack's Redis, Kafka and PostgreSQL. It reports the time to
// sold out, answers by status, p50/p99, and the time until every accepted order is confirmed in
// PostgreSQL. Invariant checked: oversell 0 and lost 0, computed from what the clients were answered
// and the rows PostgreSQL holds, never from the code's own counters. Then, with every sale sold out,
// the earliest accepted orders are retried under their own keys, each next to a new buyer's request
// (which meets the sale's sold-out flag in the API): every retry must get its first orderId.
import autocannon from 'autocannon';
import type pg from 'pg';
import { order } from '../../e2e/support/api.js';
import { addServiceCpu, perUnitUs } from './cpu.js';

export interface E2eSettings {
  requests: number;
  buyers: number;
  units: number;
  sales: number;
  perUserLimit: number;
  connections: number;
  confirmTimeoutS: number;
}

export interface E2eResult {
  settings: E2eSettings;
  /** Distinct buyers who sent requests. */
  distinctBuyers: number;
  /** Seconds from the first request to the answer that took each sale's stock to 0 (null: not sold out). */
  soldOutSeconds: Record<string, number | null>;
  /** The last sale's sell-out (null if one did not sell out). */
  allSoldOutSeconds: number | null;
  loadSeconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** "<HTTP status> <answer status>" -> count, e.g. "409 sold_out". */
  answers: Record<string, number>;
  socketErrors: number;
  accepted: number;
  /** Seconds from the first request / from the last answer until PostgreSQL held every accepted order. */
  confirmedSeconds: number | null;
  confirmedAfterLoadSeconds: number | null;
  /** Units confirmed in PostgreSQL beyond a sale's stock, summed over sales; and accepted answers beyond it. */
  oversell: number;
  oversellAnswers: number;
  /** Orders answered 200 that PostgreSQL does not hold as confirmed. */
  lost: number;
  /** Confirmed rows for orders no client was answered 200 for (e.g. after a 503 naming the order). */
  confirmedNotAnswered: number;
  /** Buyers holding more than perUserLimit units of one sale in PostgreSQL. */
  overLimitBuyers: number;
  /** Retries of the earliest accepted orders once sold out: answered their own orderId, or not (by answer). */
  retriesAfterSoldOut: { sent: number; sameOrder: number; wrong: Record<string, number>; newBuyers: Record<string, number> };
  /** API CPU over the load / requests. */
  apiCpuUsPerRequest?: number;
  /** Worker CPU from the first request until all were confirmed (idle polling included) / accepted orders. */
  workerCpuUsPerAcceptedOrder?: number;
  /** Redis, Kafka and PostgreSQL CPU over the same span as the worker's / requests. */
  serviceCpuUsPerRequest?: Record<string, number>;
}

export interface E2eTarget {
  url: string;
  /** One productId per sale, seeded with unitsOf(...) units and perUserLimit. */
  productIds: string[];
  nonce: string;
  db: pg.Pool;
  /** CPU seconds so far of our API and our worker processes, and of each of the stack's services. */
  cpu: () => { api?: number; worker?: number; services?: Record<string, number> };
  log: (m: string) => void;
}

/** Units of sale i (the remainder goes to the first sales). */
export function unitsOf(s: E2eSettings, i: number): number {
  return Math.floor(s.units / s.sales) + (i < s.units % s.sales ? 1 : 0);
}

/** A small seeded PRNG (xorshift32): the same run sends the same requests. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

interface Sent {
  sale: number;
  key: string;
  userId: string;
}

/** Accepted orders retried after the sell-out: the earliest, beyond the API's in-memory replay window at full size. */
const RETRIES = 1_000;

export async function runE2e(t: E2eTarget, s: E2eSettings): Promise<E2eResult> {
  const random = xorshift(0x9e3779b9);
  let next = 0;
  /** Buyers who sent at least one request (R draws from B: about B·(1 - e^(-R/B)) of them). */
  const seen = new Uint8Array(s.buyers);
  let buyers = 0;
  /** orderId -> the request answered 200 with it, in the order of the answers. */
  const accepted = new Map<string, Sent>();
  const answers: Record<string, number> = {};
  const soldOutAt: Array<number | null> = t.productIds.map(() => null);
  let lastAnswerAt = 0;
  const cpu0 = t.cpu();
  const t0 = performance.now();
  t.log(`e2e: ${s.requests} requests, ${s.buyers} buyers, ${s.units} units over ${s.sales} sales, ${s.connections} connections`);
  const result = await autocannon({
    url: t.url,
    connections: s.connections,
    amount: s.requests,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/order',
        // Request i: a buyer and a sale drawn at random (a buyer comes back, as buyers do), a fresh key.
        setupRequest(req: autocannon.Request, context: Record<string, unknown>) {
          const i = next++;
          const sale = random() % s.sales;
          const buyer = random() % s.buyers;
          if (i < s.requests && !seen[buyer]) {
            seen[buyer] = 1;
            buyers++;
          }
          const sent: Sent = { sale, key: `e2e-${t.nonce}-${i}`, userId: `b-${t.nonce}-${buyer}` };
          (context as { sent?: Sent }).sent = sent;
          return {
            ...req,
            headers: { 'content-type': 'application/json', 'x-idempotency-key': sent.key },
            body: `{"productId":"${t.productIds[sale]}","userId":"${sent.userId}","quantity":1}`,
          };
        },
        onResponse(status: number, body: string, context: Record<string, unknown>) {
          const now = performance.now();
          lastAnswerAt = now;
          const sent = (context as { sent?: Sent }).sent;
          let a: { status?: string; orderId?: string; remaining?: number } = {};
          try {
            a = JSON.parse(body) as typeof a;
          } catch {
            /* counted under its HTTP status alone */
          }
          const key = `${status} ${a.status ?? '?'}`;
          answers[key] = (answers[key] ?? 0) + 1;
          if (status === 200 && a.orderId && sent) {
            accepted.set(a.orderId, sent);
            if (a.remaining === 0) soldOutAt[sent.sale] = (now - t0) / 1000;
          }
        },
      },
    ],
  });
  const loadSeconds = (lastAnswerAt - t0) / 1000;
  const cpuLoad = t.cpu();
  t.log(`e2e: load done in ${loadSeconds.toFixed(1)} s, ${accepted.size} accepted; waiting for PostgreSQL`);

  const confirmed = await waitConfirmed(t, accepted.size, s.confirmTimeoutS);
  const confirmedAt = confirmed ? performance.now() : null;
  const cpuEnd = t.cpu();
  const check = await verify(t, s, accepted);
  const soldOutOrders = [...accepted].filter(([, o]) => soldOutAt[o.sale] !== null);
  const retriesAfterSoldOut = await retryAfterSoldOut(t, soldOutOrders.slice(0, RETRIES), Math.min(s.connections, 32));

  const soldOutSeconds = Object.fromEntries(t.productIds.map((p, i) => [p, soldOutAt[i] === null ? null : round(soldOutAt[i]!, 2)]));
  const allSold = soldOutAt.every((x) => x !== null) ? Math.max(...(soldOutAt as number[])) : null;
  const perReq = (a?: number, b?: number, n = s.requests) => (a !== undefined && b !== undefined && n > 0 ? Math.round(((b - a) * 1e6) / n) : undefined);
  return {
    settings: s,
    distinctBuyers: buyers,
    soldOutSeconds,
    allSoldOutSeconds: allSold === null ? null : round(allSold, 2),
    loadSeconds: round(loadSeconds, 2),
    requestsPerSecond: Math.round(result.requests.total / loadSeconds),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    answers,
    socketErrors: result.errors + result.timeouts,
    accepted: accepted.size,
    confirmedSeconds: confirmedAt === null ? null : round((confirmedAt - t0) / 1000, 2),
    confirmedAfterLoadSeconds: confirmedAt === null ? null : round((confirmedAt - lastAnswerAt) / 1000, 2),
    ...check,
    retriesAfterSoldOut,
    apiCpuUsPerRequest: perReq(cpu0.api, cpuLoad.api),
    workerCpuUsPerAcceptedOrder: perReq(cpu0.worker, cpuEnd.worker, accepted.size),
    serviceCpuUsPerRequest: servicesPerRequest(cpu0.services, cpuEnd.services, s.requests),
  };
}

function servicesPerRequest(before: Record<string, number> | undefined, after: Record<string, number> | undefined, requests: number) {
  const used: Record<string, number> = {};
  addServiceCpu(used, before, after);
  return perUnitUs(used, requests);
}

/**
 * Retries accepted orders of sold-out sales under their own keys and users, each sent together with a
 * new buyer's request for the same sale: the new buyers' "sold out" keeps the API's sold-out flag set,
 * so retries meet it (a retry the flag answered 409 would be told its order failed while it is stored).
 */
async function retryAfterSoldOut(t: E2eTarget, orders: Array<[orderId: string, sent: Sent]>, concurrency: number) {
  const wrong: Record<string, number> = {};
  const newBuyers: Record<string, number> = {};
  let sameOrder = 0;
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < orders.length; i = next++) {
      const [orderId, o] = orders[i]!;
      const productId = t.productIds[o.sale]!;
      const [fresh, retry] = await Promise.all([
        order(t.url, { productId, userId: `late-${t.nonce}-${i}` }, `late-${t.nonce}-${i}`),
        order(t.url, { productId, userId: o.userId }, o.key),
      ]);
      const answer = (r: typeof fresh) => `${r.status} ${r.body?.status ?? '?'}`;
      newBuyers[answer(fresh)] = (newBuyers[answer(fresh)] ?? 0) + 1;
      if (retry.status === 200 && retry.body.orderId === orderId) sameOrder++;
      else {
        const k = retry.status === 200 ? '200 another orderId' : answer(retry);
        wrong[k] = (wrong[k] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  t.log(`e2e: ${orders.length} retries after the sell-out: ${sameOrder} answered their first order`);
  return { sent: orders.length, sameOrder, wrong, newBuyers };
}

/** Polls PostgreSQL until it holds as many confirmed orders of these sales as were accepted. */
async function waitConfirmed(t: E2eTarget, expected: number, timeoutS: number): Promise<boolean> {
  const deadline = performance.now() + timeoutS * 1000;
  for (;;) {
    const { rows } = await t.db.query<{ n: string }>(
      "SELECT count(*) AS n FROM orders WHERE product_id = ANY($1) AND status = 'confirmed'",
      [t.productIds],
    );
    if (Number(rows[0]?.n ?? 0) >= expected) return true;
    if (performance.now() > deadline) {
      t.log(`e2e: ${rows[0]?.n} of ${expected} accepted orders confirmed after ${timeoutS} s`);
      return false;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The invariants, from the client answers and the PostgreSQL rows. */
async function verify(t: E2eTarget, s: E2eSettings, accepted: Map<string, Sent>) {
  const { rows } = await t.db.query<{ id: string; product_id: string; user_id: string; quantity: number }>(
    "SELECT id, product_id, user_id, quantity FROM orders WHERE product_id = ANY($1) AND status = 'confirmed'",
    [t.productIds],
  );
  const confirmedIds = new Set(rows.map((r) => r.id));
  let lost = 0;
  for (const id of accepted.keys()) if (!confirmedIds.has(id)) lost++;
  const confirmedNotAnswered = rows.filter((r) => !accepted.has(r.id)).length;
  const unitsBySale = new Map<string, number>();
  const byBuyer = new Map<string, number>();
  for (const r of rows) {
    unitsBySale.set(r.product_id, (unitsBySale.get(r.product_id) ?? 0) + r.quantity);
    const k = `${r.product_id}\n${r.user_id}`;
    byBuyer.set(k, (byBuyer.get(k) ?? 0) + r.quantity);
  }
  const answeredBySale = t.productIds.map(() => 0);
  for (const { sale } of accepted.values()) answeredBySale[sale]!++;
  let oversell = 0;
  let oversellAnswers = 0;
  t.productIds.forEach((p, i) => {
    oversell += Math.max(0, (unitsBySale.get(p) ?? 0) - unitsOf(s, i));
    oversellAnswers += Math.max(0, answeredBySale[i]! - unitsOf(s, i));
  });
  const overLimitBuyers = [...byBuyer.values()].filter((n) => n > s.perUserLimit).length;
  return { oversell, oversellAnswers, lost, confirmedNotAnswered, overLimitBuyers };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// Every Redis key name Flux-Gate uses is built here, and nowhere else.
// Keys of one sale share the hash tag {<productId>}, so every script touches one Cluster slot.
// The one exception is the accepted-order record (see orderStatusKey).

export interface SaleKeys {
  /** Units still sellable (integer). Missing = not seeded, never "sold out". */
  stock: string;
  /** Hash: state (open|recovering|paused), startsAt/endsAt (epoch ms, 0 = none), rateLimit, perUserLimit (0 = none), initialStock, seededAt. */
  meta: string;
  /** Integer bumped by every seed; fences late compensations from API pods that reserved before the reseed. */
  epoch: string;
  /** Hash: s (unix second), n (admissions during s). */
  rate: string;
  idem(idempotencyKey: string): string;
  user(userId: string): string;
  /** Glob matching every key of the sale (SCAN pattern for cleanup). */
  pattern: string;
}

export function saleKeys(productId: string): SaleKeys {
  const p = `fg:{${productId}}:`;
  return {
    stock: `${p}stock`,
    meta: `${p}meta`,
    epoch: `${p}epoch`,
    rate: `${p}rate`,
    idem: (k) => `${p}idem:${k}`,
    user: (u) => `${p}user:${u}`,
    pattern: `${p}*`,
  };
}

/**
 * The accepted-order record ("pending" until the worker writes PostgreSQL), found by the order id
 * alone so that GET /order/:orderId needs nothing else. It carries the order's own hash tag, so the
 * reserve script touches two slots: fine on a single Redis or Sentinel (what Flux-Gate deploys);
 * on Redis Cluster it would have to move under the sale's tag and the status URL carry the productId.
 */
export function orderStatusKey(orderId: string): string {
  return `fg:order:{${orderId}}`;
}

export const GATE_STATES = ['open', 'recovering', 'paused'] as const;
export type GateState = (typeof GATE_STATES)[number];

// Every Redis key name Flux-Gate uses is built here, and nowhere else.
// Keys of one sale share the hash tag {<productId>}, so every script touches one Cluster slot;
// the accepted-order record joins that slot through its order id (see newOrderId).
import { randomUUID } from 'node:crypto';
import { HEX_TAG_LENGTH, hexTagForSlot, keySlot } from './slots.js';

export interface SaleKeys {
  /** Units still sellable (integer). Missing = not seeded, never "sold out". */
  stock: string;
  /**
   * Hash: state (open|recovering|paused), startsAt/endsAt (epoch ms, 0 = none), rateLimit, perUserLimit (0 = none), initialStock, seededAt,
   * seedTerm (the replication id of the node seeded: reserve.lua's fence, seed.lua);
   * admission settings admMode, admRate, admTtl, admMax (sale.ts); the queue's counters q* (queue.ts: qJoined, qBase, qBaseAt,
   * qExpired, qEarly, qSeed, qSoldOut, qSettled), kept by every seed. One key, so a queue poll reads one key.
   */
  meta: string;
  /** Integer bumped by every seed; fences late compensations from API pods that reserved before the reseed. */
  epoch: string;
  /** Hash: s (unix second), n (admissions during s). */
  rate: string;
  /** Hash: userId -> "<join number>:<join unix second>" (queued sales: one small entry per waiting user). */
  queue: string;
  /** Sorted set: userId -> admission token state (expiry ms = live, 1 = expired unused, -expiry = used). */
  tokens: string;
  /** Sorted set: served count -> Redis ms a sweep first saw it (when places were reached; queue-sweep.lua). */
  reach: string;
  /** Sorted set of places whose token was handed out, above the meta's qSettled watermark. */
  claims: string;
  idem(idempotencyKey: string): string;
  user(userId: string): string;
  /** Glob matching every key of the sale (SCAN pattern for cleanup). */
  pattern: string;
}

/** Built once per sale (frozen, shared): the order path asks for them on every request. */
const keysByProduct = new Map<string, SaleKeys>();

export function saleKeys(productId: string): SaleKeys {
  let keys = keysByProduct.get(productId);
  if (keys === undefined) {
    keys = Object.freeze(buildSaleKeys(productId));
    if (keysByProduct.size >= 10_000) keysByProduct.clear(); // sales are few; bound it anyway
    keysByProduct.set(productId, keys);
  }
  return keys;
}

function buildSaleKeys(productId: string): SaleKeys {
  const p = `fg:{${productId}}:`;
  return {
    stock: `${p}stock`,
    meta: `${p}meta`,
    epoch: `${p}epoch`,
    rate: `${p}rate`,
    queue: `${p}q`,
    tokens: `${p}qtok`,
    reach: `${p}qreach`,
    claims: `${p}qclaim`,
    idem: (k) => `${p}idem:${k}`,
    user: (u) => `${p}user:${u}`,
    pattern: `${p}*`,
  };
}

/**
 * A new order id for a product, a UUID (version 8, RFC 9562's custom layout):
 *   tag (HEX_TAG_LENGTH hex digits) | clock (ORDER_ID_CLOCK_BITS of milliseconds) | 8 | 74 random bits.
 * The tag lands in the sale's Cluster slot: the reserve script writes the accepted-order record
 * next to the sale's keys, and Redis Cluster refuses (CROSSSLOT) a script touching two slots; yet
 * GET /order/:orderId must find the record from the id alone. The clock makes one sale's ids grow
 * with time, as UUIDv7's do, so PostgreSQL's primary key takes them near its right edge instead of
 * on random pages (COPY of 100,000 orders: 6.3 against 7.4 µs per row). It wraps every ~74 hours,
 * which costs one jump, not uniqueness: the 74 random bits (as many as UUIDv7) keep ids unguessable.
 */
export function newOrderId(productId: string, nowMs = Date.now()): string {
  const clock = (nowMs % ORDER_ID_CLOCK_PERIOD).toString(16).padStart(7, '0');
  // randomUUID(): xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx; from index 15 on, all random but V's two variant bits.
  return `${orderTagFor(productId)}${clock.slice(0, 3)}-${clock.slice(3)}-8${randomUUID().slice(15)}`;
}

const ORDER_ID_CLOCK_BITS = 28; // 7 hex digits after the 5 of the tag fill the UUID's first 12
const ORDER_ID_CLOCK_PERIOD = 2 ** ORDER_ID_CLOCK_BITS;

const tagByProduct = new Map<string, string>();

function orderTagFor(productId: string): string {
  let tag = tagByProduct.get(productId);
  if (tag === undefined) {
    tag = hexTagForSlot(keySlot(saleKeys(productId).stock));
    if (tagByProduct.size >= 10_000) tagByProduct.clear(); // sales are few; bound it anyway
    tagByProduct.set(productId, tag);
  }
  return tag;
}

/**
 * The accepted-order record ("pending" until the worker writes PostgreSQL), found by the order id
 * alone so that GET /order/:orderId needs nothing else. Its hash tag is the id's first digits, which
 * newOrderId chose in the sale's slot (ids are lowercase: the API's UUID pattern accepts no other).
 */
export function orderStatusKey(orderId: string): string {
  return `fg:order:{${orderId.slice(0, HEX_TAG_LENGTH)}}:${orderId}`;
}

export const GATE_STATES = ['open', 'recovering', 'paused'] as const;
export type GateState = (typeof GATE_STATES)[number];

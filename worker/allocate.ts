// The pure heart of the worker: given a batch of orders (in offset order) and what PostgreSQL holds
// under lock, decide each order's fate. Deterministic, so a redelivered batch decides the same way.
import type { OrderMessage } from '../core/kafka/order-message.js';

export type Decision =
  | { order: OrderMessage; status: 'confirmed' }
  | { order: OrderMessage; status: 'rejected'; reason: 'out_of_stock' | 'unknown_product' | 'over_user_limit' }
  | { order: OrderMessage; status: 'rejected'; reason: 'duplicate'; duplicateOf: string };

export interface LockedState {
  /** Current stock of every product of the batch PostgreSQL knows (rows locked FOR UPDATE). */
  stock: ReadonlyMap<string, number>;
  /** Order ids of the batch already stored (a redelivery after a crash between COMMIT and offset commit). */
  storedOrderIds: ReadonlySet<string>;
  /** Stored holder of each (productId, idempotencyKey) of the batch, keyed by idempotencyKeyOf(). */
  keyHolders: ReadonlyMap<string, string>;
  /** Units one user may hold per product (products.per_user_limit); absent = no limit. */
  perUserLimit?: ReadonlyMap<string, number>;
  /** Confirmed units each user of the batch already holds, keyed by userUnitsKeyOf(); absent = 0. */
  userUnits?: ReadonlyMap<string, number>;
}

export interface Allocation {
  /** New rows to insert, in offset order. */
  decisions: Decision[];
  /** Orders skipped because their orderId is already stored (or repeated earlier in the batch). */
  redelivered: number;
  /** Stock taken per product by the confirmed decisions. */
  taken: Map<string, number>;
}

export function idempotencyKeyOf(productId: string, idempotencyKey: string): string {
  return `${productId}\u0000${idempotencyKey}`;
}

export function userUnitsKeyOf(productId: string, userId: string): string {
  return `${productId}\u0000${userId}`;
}

/**
 * For each order in offset order: a stored or already-seen orderId is skipped; an idempotency key
 * already held by another order makes it a duplicate of that order; otherwise it is confirmed while
 * the product's stock covers its quantity (greedy, like the Redis gate), else rejected out_of_stock.
 * The per-user limit is checked before the stock, as in reserve.lua: an order that would take its
 * user past the limit (confirmed units) is rejected over_user_limit, whatever Redis counted.
 */
export function allocate(orders: readonly OrderMessage[], state: LockedState): Allocation {
  const remaining = new Map(state.stock);
  const seenIds = new Set<string>();
  const holders = new Map(state.keyHolders);
  const decisions: Decision[] = [];
  const taken = new Map<string, number>();
  const userUnits = new Map(state.userUnits);
  let redelivered = 0;
  for (const order of orders) {
    if (state.storedOrderIds.has(order.orderId) || seenIds.has(order.orderId)) {
      redelivered++;
      continue;
    }
    seenIds.add(order.orderId);
    const key = idempotencyKeyOf(order.productId, order.idempotencyKey);
    const holder = holders.get(key);
    if (holder !== undefined) {
      decisions.push({ order, status: 'rejected', reason: 'duplicate', duplicateOf: holder });
      continue;
    }
    holders.set(key, order.orderId);
    const stock = remaining.get(order.productId);
    const limit = state.perUserLimit?.get(order.productId);
    // Units per user matter only under a per-user limit (no key built per order otherwise).
    const userKey = limit === undefined ? undefined : userUnitsKeyOf(order.productId, order.userId);
    const held = userKey === undefined ? 0 : (userUnits.get(userKey) ?? 0);
    if (stock === undefined) {
      decisions.push({ order, status: 'rejected', reason: 'unknown_product' });
    } else if (limit !== undefined && held + order.quantity > limit) {
      decisions.push({ order, status: 'rejected', reason: 'over_user_limit' });
    } else if (stock >= order.quantity) {
      remaining.set(order.productId, stock - order.quantity);
      if (userKey !== undefined) userUnits.set(userKey, held + order.quantity);
      taken.set(order.productId, (taken.get(order.productId) ?? 0) + order.quantity);
      decisions.push({ order, status: 'confirmed' });
    } else {
      decisions.push({ order, status: 'rejected', reason: 'out_of_stock' });
    }
  }
  return { decisions, redelivered, taken };
}

/**
 * What a batch asks, known before any lock: the worker builds it while the previous batch is in
 * PostgreSQL (prepare-batch.ts), so that deciding the common batch, where every order is
 * confirmed, costs the partition's serial chain a check per product (confirmsAll) instead of
 * allocate()'s work per order.
 */
export class BatchShape {
  /** No orderId, and no (productId, idempotencyKey), comes twice in the batch. */
  distinct = true;
  /** Units asked per product. */
  readonly units = new Map<string, number>();
  private readonly ids = new Set<string>();
  private readonly keys = new Set<string>();

  add(order: OrderMessage): void {
    const key = idempotencyKeyOf(order.productId, order.idempotencyKey);
    if (this.ids.has(order.orderId) || this.keys.has(key)) this.distinct = false;
    this.ids.add(order.orderId);
    this.keys.add(key);
    this.units.set(order.productId, (this.units.get(order.productId) ?? 0) + order.quantity);
  }

  static of(orders: readonly OrderMessage[]): BatchShape {
    const shape = new BatchShape();
    for (const o of orders) shape.add(o);
    return shape;
  }
}

/**
 * True when the shape of `orders` proves that allocate() confirms every one of them: nothing of
 * the batch is stored or holds a key, its ids and keys are distinct, every product is known with
 * stock for the whole batch, and no user ends past a per-user limit. Then every decision is
 * 'confirmed' and the stock taken is shape.units. (False can still mean all confirmed: allocate()
 * then decides.)
 */
export function confirmsAll(orders: readonly OrderMessage[], shape: BatchShape, state: LockedState): boolean {
  if (!shape.distinct || state.storedOrderIds.size > 0 || state.keyHolders.size > 0) return false;
  let limited = false;
  for (const [productId, units] of shape.units) {
    const stock = state.stock.get(productId);
    if (stock === undefined || stock < units) return false;
    limited ||= state.perUserLimit?.has(productId) === true;
  }
  return !limited || withinUserLimits(orders, state);
}

/** Every user of a product with a per-user limit ends within it, counting all their orders of the batch. */
function withinUserLimits(orders: readonly OrderMessage[], state: LockedState): boolean {
  const units = new Map(state.userUnits);
  for (const o of orders) {
    const limit = state.perUserLimit?.get(o.productId);
    if (limit === undefined) continue;
    const key = userUnitsKeyOf(o.productId, o.userId);
    const held = (units.get(key) ?? 0) + o.quantity;
    if (held > limit) return false;
    units.set(key, held);
  }
  return true;
}

// The part of persisting a batch that needs no lock, done while the previous batch of the
// partition is still in PostgreSQL: its shape (allocate.ts BatchShape) and its rows' COPY data as
// if every order were confirmed, the common case. A partition persists one batch after the other,
// so what is done here instead of inside the transaction is taken off that serial chain.
//
// Invariant: the prepared decisions and COPY data are used only when confirmsAll() proves that
// allocate() would decide the same (persist-batch.ts); otherwise the batch is decided as before.
import type { OrderMessage } from '../core/kafka/order-message.js';
import { copyLine, type OrderRow, type OrdersCopyData } from '../core/postgres/orders.js';
import { BatchShape, type Decision } from './allocate.js';

export interface PreparedBatch {
  /** The orders it was prepared for (persist-batch.ts uses it only for exactly these). */
  orders: readonly OrderMessage[];
  shape: BatchShape;
  /** Every order confirmed, in order. */
  confirmed: Decision[];
  /** The COPY data of `confirmed`. */
  copy: OrdersCopyData;
}

/**
 * Orders decoded (handle-batch.ts) or prepared between two yields to the event loop, about half a
 * millisecond of work: both run while the previous batch's transaction is in flight.
 */
export const ORDERS_PER_SLICE = 256;

/** Lets the event loop handle what came in (the running transaction's replies) before going on. */
export const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

// An object literal of fixed shape, not a spread of the order: one hidden class for every row.
export function toRow(d: Decision): OrderRow {
  const o = d.order;
  return {
    orderId: o.orderId,
    productId: o.productId,
    userId: o.userId,
    idempotencyKey: o.idempotencyKey,
    quantity: o.quantity,
    status: d.status,
    rejectReason: d.status === 'rejected' ? d.reason : null,
    duplicateOf: d.status === 'rejected' && d.reason === 'duplicate' ? d.duplicateOf : null,
    epoch: o.epoch,
    acceptedAt: o.acceptedAt,
  };
}

/**
 * Prepares `orders`, yielding to the event loop every ORDERS_PER_SLICE orders: it runs while the
 * previous batch's transaction is in flight, whose replies must not wait behind it.
 */
export async function prepareBatch(orders: readonly OrderMessage[]): Promise<PreparedBatch> {
  const shape = new BatchShape();
  const confirmed: Decision[] = [];
  let text = '';
  for (let i = 0; i < orders.length; i++) {
    if (i > 0 && i % ORDERS_PER_SLICE === 0) await yieldToEventLoop();
    const order = orders[i]!;
    shape.add(order);
    const d: Decision = { order, status: 'confirmed' };
    confirmed.push(d);
    text += copyLine(toRow(d));
  }
  return { orders, shape, confirmed, copy: { rows: orders.length, data: Buffer.from(text) } };
}

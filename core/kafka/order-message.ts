// The one codec for messages on the orders topic. Producers call encodeOrders (or encodeOrder);
// consumers call decodeOrderRecord, which validates and says exactly what is wrong (the reason goes
// to the DLQ). Two versions, both always decoded:
//   v1: one order per Kafka record, {"v":1,"orderId":…,"productId":…,…}
//   v2: the orders of one sale from one produce batch in one record,
//       {"v":2,"productId":…,"orders":[{"orderId":…,"userId":…,"idempotencyKey":…,"quantity":…,"acceptedAt":…,"epoch":…},…]}
//       (kafkajs encodes each record field by field: one record per batch instead of one per order
//       is most of the API's Kafka CPU, and most of the worker's per-message decoding).
// The key of either is the productId: one sale's orders stay on one partition, in order.

export interface OrderMessage {
  v: 1;
  orderId: string;
  productId: string;
  userId: string;
  idempotencyKey: string;
  quantity: number;
  /** ISO-8601 time the API accepted the order. */
  acceptedAt: string;
  /** The sale's Redis epoch at reservation time. */
  epoch: number;
}

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const MAX_QUANTITY = 100;

export class InvalidOrderMessage extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidOrderMessage';
  }
}

/** Versions the API can write (KAFKA_ORDER_MESSAGE_VERSION): 1 while some worker predates v2. */
export type OrderMessageVersion = 1 | 2;

export function encodeOrder(m: OrderMessage): Buffer {
  return Buffer.from(JSON.stringify(m));
}

/** One v2 record for orders of ONE product (the record's key): their fields, without v and productId. */
export function encodeOrders(orders: readonly OrderMessage[]): Buffer {
  const productId = orders[0]?.productId;
  if (productId === undefined) throw new Error('encodeOrders: no order');
  let json = `{"v":2,"productId":${JSON.stringify(productId)},"orders":[`;
  for (let i = 0; i < orders.length; i++) {
    const o = orders[i]!;
    if (o.productId !== productId) throw new Error(`encodeOrders: orders of ${productId} and ${o.productId} in one record`);
    json += `${i ? ',' : ''}{"orderId":${JSON.stringify(o.orderId)},"userId":${JSON.stringify(o.userId)},"idempotencyKey":${JSON.stringify(o.idempotencyKey)},"quantity":${o.quantity},"acceptedAt":${JSON.stringify(o.acceptedAt)},"epoch":${o.epoch}}`;
  }
  return Buffer.from(`${json}]}`);
}

/** Partition key: all orders of one product go to one partition, in order. */
export function orderKey(m: Pick<OrderMessage, 'productId'>): string {
  return m.productId;
}

// What PostgreSQL can store (core/postgres/migrations): a message the codec accepts must never be
// refused by the orders table, or it would block its partition. text holds no NUL and must be
// well-formed UTF-8 (no lone surrogate); epoch is a bigint (and a JS number: safe integers only);
// quantity an integer (MAX_QUANTITY); accepted_at a timestamptz, which does not parse everything
// Date.parse does ("1", "2026-02-30"): only the exact form toISOString() writes is accepted.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isStorableKey(k: string): boolean {
  return k.length >= 1 && k.length <= 128 && !k.includes('\u0000') && !LONE_SURROGATE.test(k);
}

// "YYYY-MM-DDTHH:mm:ss.sssZ": the separator expected at each position (0 = a digit).
const TIME_SHAPE = [0, 0, 0, 0, 45, 0, 0, 45, 0, 0, 84, 0, 0, 58, 0, 0, 58, 0, 0, 46, 0, 0, 0, 90];

/** Two digits at i..i+1 as a number (the shape is checked first). */
function two(t: string, i: number): number {
  return (t.charCodeAt(i) - 48) * 10 + t.charCodeAt(i + 1) - 48;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Exactly the strings new Date(x).toISOString() writes for years 0000..9999 (the proleptic
 * Gregorian calendar: a real date, hour ≤ 23, seconds ≤ 59), checked character by character: the
 * Date.parse round trip it replaces was the largest cost of decoding an order.
 */
export function isCanonicalTime(t: string): boolean {
  if (t.length !== 24) return false;
  for (let i = 0; i < 24; i++) {
    const c = t.charCodeAt(i);
    const want = TIME_SHAPE[i]!;
    if (want === 0 ? c < 48 || c > 57 : c !== want) return false;
  }
  const year = two(t, 0) * 100 + two(t, 2);
  const month = two(t, 5);
  const day = two(t, 8);
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && two(t, 11) <= 23 && two(t, 14) <= 59 && two(t, 17) <= 59;
}

const FIELDS = new Set(['v', 'orderId', 'productId', 'userId', 'idempotencyKey', 'quantity', 'acceptedAt', 'epoch']);
const V2_FIELDS = new Set(['v', 'productId', 'orders']);
const V2_ORDER_FIELDS = new Set(['orderId', 'userId', 'idempotencyKey', 'quantity', 'acceptedAt', 'epoch']);

function parseObject(value: Buffer | null | undefined): Record<string, unknown> {
  if (!value || value.length === 0) throw new InvalidOrderMessage('empty message');
  let o: unknown;
  try {
    o = JSON.parse(value.toString('utf8'));
  } catch {
    throw new InvalidOrderMessage('not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InvalidOrderMessage('not a JSON object');
  return o as Record<string, unknown>;
}

function onlyFields(m: Record<string, unknown>, allowed: Set<string>): void {
  for (const k in m) if (!allowed.has(k)) throw new InvalidOrderMessage(`unknown field ${k}`);
}

/** Checks the fields of one order (m.v and the unknown-field check are the caller's). */
function validateOrder(m: Record<string, unknown>): OrderMessage {
  if (typeof m.orderId !== 'string' || !UUID_PATTERN.test(m.orderId))
    throw new InvalidOrderMessage('orderId must be a lowercase UUID');
  for (const f of ['productId', 'userId'] as const)
    if (typeof m[f] !== 'string' || !ID_PATTERN.test(m[f] as string))
      throw new InvalidOrderMessage(`${f} must match ${ID_PATTERN.source}`);
  if (typeof m.idempotencyKey !== 'string' || !isStorableKey(m.idempotencyKey))
    throw new InvalidOrderMessage('idempotencyKey must be a string of 1..128 characters without NUL');
  if (!Number.isInteger(m.quantity) || (m.quantity as number) < 1 || (m.quantity as number) > MAX_QUANTITY)
    throw new InvalidOrderMessage(`quantity must be an integer in 1..${MAX_QUANTITY}`);
  if (typeof m.acceptedAt !== 'string' || !isCanonicalTime(m.acceptedAt))
    throw new InvalidOrderMessage('acceptedAt must be an ISO-8601 UTC time as the API writes it (YYYY-MM-DDTHH:mm:ss.sssZ)');
  if (!Number.isSafeInteger(m.epoch) || (m.epoch as number) < 0)
    throw new InvalidOrderMessage(`epoch must be an integer in 0..${Number.MAX_SAFE_INTEGER}`);
  return m as unknown as OrderMessage;
}

/** Decodes a v1 record (one order); throws InvalidOrderMessage naming what is wrong. */
export function decodeOrder(value: Buffer | null | undefined): OrderMessage {
  const m = parseObject(value);
  onlyFields(m, FIELDS);
  if (m.v !== 1) throw new InvalidOrderMessage(`unsupported version ${JSON.stringify(m.v)}`);
  return validateOrder(m);
}

/** An order of a v2 record that failed validation: its reason, and its fields as a v1 message (for the DLQ). */
export interface InvalidOrderInRecord {
  reason: string;
  value: Buffer;
}

export interface DecodedRecord {
  /** v1 objects (v = 1, productId set), in record order. */
  orders: OrderMessage[];
  /** True for a v2 record: each order's own bytes are its v1 encoding (encodeOrder), not the record's. */
  batched: boolean;
  invalid: InvalidOrderInRecord[];
}

/**
 * Decodes a v1 or v2 record. A record that is not one of them as a whole throws InvalidOrderMessage
 * (the record goes to the DLQ byte for byte); an invalid order inside a valid v2 record is listed in
 * `invalid` so the record's other orders are still stored.
 */
export function decodeOrderRecord(value: Buffer | null | undefined): DecodedRecord {
  const m = parseObject(value);
  if (m.v === 1) {
    onlyFields(m, FIELDS);
    return { orders: [validateOrder(m)], batched: false, invalid: [] };
  }
  if (m.v !== 2) throw new InvalidOrderMessage(`unsupported version ${JSON.stringify(m.v)}`);
  onlyFields(m, V2_FIELDS);
  const productId = m.productId;
  if (typeof productId !== 'string' || !ID_PATTERN.test(productId)) throw new InvalidOrderMessage(`productId must match ${ID_PATTERN.source}`);
  if (!Array.isArray(m.orders) || m.orders.length === 0) throw new InvalidOrderMessage('orders must be a non-empty array');
  const orders: OrderMessage[] = [];
  const invalid: InvalidOrderInRecord[] = [];
  for (const entry of m.orders as unknown[]) {
    const isObject = typeof entry === 'object' && entry !== null && !Array.isArray(entry);
    try {
      if (!isObject) throw new InvalidOrderMessage('an order of a v2 record must be a JSON object');
      const o = entry as Record<string, unknown>;
      onlyFields(o, V2_ORDER_FIELDS);
      // The parsed object becomes the v1 order (no copy per order).
      o.v = 1;
      o.productId = productId;
      orders.push(validateOrder(o));
    } catch (err) {
      if (!(err instanceof InvalidOrderMessage)) throw err;
      const asV1 = isObject ? { ...(entry as Record<string, unknown>), v: 1, productId } : { v: 1, productId, order: entry };
      invalid.push({ reason: err.message, value: Buffer.from(JSON.stringify(asV1)) });
    }
  }
  return { orders, batched: true, invalid };
}

// The one codec for messages on the orders topic. Producers call encodeOrder; consumers call
// decodeOrder, which validates and says exactly what is wrong (the reason goes to the DLQ).

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

export function encodeOrder(m: OrderMessage): Buffer {
  return Buffer.from(JSON.stringify(m));
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

function isCanonicalTime(t: string): boolean {
  const ms = Date.parse(t);
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(t) && !Number.isNaN(ms) && new Date(ms).toISOString() === t;
}

const FIELDS = ['v', 'orderId', 'productId', 'userId', 'idempotencyKey', 'quantity', 'acceptedAt', 'epoch'];

export function decodeOrder(value: Buffer | null | undefined): OrderMessage {
  if (!value || value.length === 0) throw new InvalidOrderMessage('empty message');
  let o: unknown;
  try {
    o = JSON.parse(value.toString('utf8'));
  } catch {
    throw new InvalidOrderMessage('not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InvalidOrderMessage('not a JSON object');
  const m = o as Record<string, unknown>;
  for (const k of Object.keys(m)) if (!FIELDS.includes(k)) throw new InvalidOrderMessage(`unknown field ${k}`);
  if (m.v !== 1) throw new InvalidOrderMessage(`unsupported version ${JSON.stringify(m.v)}`);
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

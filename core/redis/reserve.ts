// Typed wrapper of the order-path scripts: reserve, confirm, release.
import type { FluxRedis } from './client.js';
import { orderStatusKey, saleKeys } from './keys.js';

/** What every order of one reserve call shares: its sale and the settings of its records. */
export interface ReserveCall {
  productId: string;
  idempotencyTtlSec: number;
  orderStatusTtlSec: number;
  pendingStaleMs: number;
}

/** One order of a reserve call. */
export interface ReserveOrder {
  orderId: string;
  userId: string;
  idempotencyKey: string;
  quantity: number;
  /** The request carries an admission token whose signature, sale and user were checked (queued sales). */
  admissionToken?: boolean;
}

export type ReserveRequest = ReserveCall & ReserveOrder;

export interface IdempotencyRecord {
  /**
   * pending = reserved, Kafka produce still in progress (or its pod died); unknown = the produce
   * failed in a way that may have written it (never released); done = durable.
   */
  state: 'pending' | 'unknown' | 'done';
  orderId: string;
  remaining: number;
  quantity: number;
  epoch: number;
  acceptedAtMs: number;
  /** The user the key is bound to (undefined in records written before the binding existed). */
  userId?: string;
}

export type ReserveResult =
  | { kind: 'ok'; remaining: number; epoch: number; acceptedAtMs: number }
  | { kind: 'replay'; record: IdempotencyRecord }
  /** The key's order is in limbo (unknown, or pending past pendingStaleMs): produce it again. */
  | { kind: 'adopt'; record: IdempotencyRecord }
  /** Same, but the sale was reseeded since: reserve again with the record's orderId. */
  | { kind: 'reissue'; record: IdempotencyRecord }
  /** The key belongs to another user or quantity. */
  | { kind: 'key_reused' }
  /** This node is not the one the sale was seeded on (promoted replica, restart): until the operator reseeds it here. */
  | { kind: 'fenced' }
  | { kind: 'not_seeded' | 'recovering' | 'paused' | 'ended' | 'limit_reached' }
  /** Queued sale: no token, none handed out to this user, already used, or expired. Nothing changed. */
  | { kind: 'token_required' | 'token_unknown' | 'token_used' | 'token_expired' }
  | { kind: 'not_started'; msUntilStart: number }
  | { kind: 'sold_out'; stockLeft: number }
  | { kind: 'rate_limited'; msUntilNextSecond: number }
  /** A gate state this version does not know (written by a newer operator?): treat as closed. */
  | { kind: 'unknown_state'; state: string };

const RECORD_STATES = { p: 'pending', u: 'unknown', d: 'done' } as const;

export function parseIdempotencyRecord(raw: string): IdempotencyRecord {
  const f = raw.split('|');
  const state = RECORD_STATES[f[0] as keyof typeof RECORD_STATES];
  if ((f.length !== 7 && f.length !== 8) || !state) throw new Error(`malformed idempotency record ${JSON.stringify(raw)}`);
  return {
    state,
    orderId: f[1]!,
    remaining: Number(f[2]),
    quantity: Number(f[3]),
    epoch: Number(f[4]),
    acceptedAtMs: Number(f[6]),
    ...(f.length === 8 ? { userId: f[7]! } : {}),
  };
}

/** An order PostgreSQL holds under an idempotency key (rebuilding its record after Redis lost it). */
export interface StoredKeyHolder {
  idempotencyKey: string;
  orderId: string;
  userId: string;
  quantity: number;
  acceptedAtMs: number;
}

/**
 * The idempotency record of an order already stored (state d: replays answer its orderId at once,
 * whatever the epoch; reserve.lua never gives the key a second orderId). `remaining` is what the
 * replay tells the client: the units left when the record was rebuilt. Not counted against the
 * per-user limit (userCounted 0): the rebuilt per-user counter already holds its units.
 */
export function storedKeyRecord(h: StoredKeyHolder, remaining: number): string {
  return `d|${h.orderId}|${remaining}|${h.quantity}|0|0|${h.acceptedAtMs}|${h.userId}`;
}

export function parseReserveReply(reply: unknown[]): ReserveResult {
  const [code, a, b, c] = reply as [string, unknown, unknown, unknown];
  switch (code) {
    case 'ok':
      return { kind: 'ok', remaining: Number(a), epoch: Number(b), acceptedAtMs: Number(c) };
    case 'replay':
    case 'adopt':
    case 'reissue':
      return { kind: code, record: parseIdempotencyRecord(String(a)) };
    case 'key_reused':
    case 'fenced':
      return { kind: code };
    case 'not_seeded':
    case 'recovering':
    case 'paused':
    case 'ended':
    case 'limit_reached':
    case 'token_required':
    case 'token_unknown':
    case 'token_used':
    case 'token_expired':
      return { kind: code };
    case 'not_started':
      return { kind: 'not_started', msUntilStart: Number(a) };
    case 'sold_out':
      return { kind: 'sold_out', stockLeft: Number(a) };
    case 'rate_limited':
      return { kind: 'rate_limited', msUntilNextSecond: Number(a) };
    default:
      return { kind: 'unknown_state', state: String(code) };
  }
}

export async function reserve(redis: FluxRedis, r: ReserveRequest): Promise<ReserveResult> {
  return (await reserveMany(redis, r, [r])).results[0]!;
}

/** An order of the sale Kafka acknowledged: its record goes to d (durable) if it still holds that orderId. */
export interface Confirmation {
  idempotencyKey: string;
  orderId: string;
}

/**
 * Decides several orders of one sale in one script call (reserve.lua), each exactly as its own call
 * would, in the order given: one round trip, one clock reading and one fence check for all of them.
 * The same call first confirms `confirms` (Kafka acknowledged them). A failed call leaves each
 * order's fate unknown, as a failed single call does, and the confirmations undone (still pending).
 */
export async function reserveMany(
  redis: FluxRedis,
  call: ReserveCall,
  orders: readonly ReserveOrder[],
  confirms: readonly Confirmation[] = [],
): Promise<{ results: ReserveResult[]; confirmed: number }> {
  const k = saleKeys(call.productId);
  const n = orders.length;
  const c = confirms.length;
  const numKeys = 5 + c + 3 * n;
  const args: (string | number)[] = new Array(1 + numKeys + 5 + c + 4 * n);
  args[0] = numKeys;
  args[1] = k.stock;
  args[2] = k.meta;
  args[3] = k.epoch;
  args[4] = k.rate;
  args[5] = k.tokens;
  const a0 = 1 + numKeys;
  args[a0] = call.productId;
  args[a0 + 1] = call.idempotencyTtlSec;
  args[a0 + 2] = call.orderStatusTtlSec;
  args[a0 + 3] = call.pendingStaleMs;
  args[a0 + 4] = c;
  for (let j = 0; j < c; j++) {
    args[6 + j] = k.idem(confirms[j]!.idempotencyKey);
    args[a0 + 5 + j] = confirms[j]!.orderId;
  }
  for (let i = 0; i < n; i++) {
    const o = orders[i]!;
    const ki = 6 + c + 3 * i;
    const ai = a0 + 5 + c + 4 * i;
    args[ki] = k.idem(o.idempotencyKey);
    args[ki + 1] = k.user(o.userId);
    args[ki + 2] = orderStatusKey(o.orderId);
    args[ai] = o.orderId;
    args[ai + 1] = o.userId;
    args[ai + 2] = o.quantity;
    args[ai + 3] = o.admissionToken ? '1' : '';
  }
  const [confirmed, replies] = (await redis.fgReserve(...args)) as [number, unknown[][]];
  if (!Array.isArray(replies) || replies.length !== n) throw new Error(`reserve.lua answered ${Array.isArray(replies) ? replies.length : typeof replies} replies for ${n} orders`);
  return { results: replies.map(parseReserveReply), confirmed: Number(confirmed) };
}

/** The parts of a reserveMany call's arguments (numkeys first): the reverse of its encoding, for scripted Redis in unit tests. */
export function readReserveCall(args: readonly unknown[]) {
  const numKeys = Number(args[0]);
  const a0 = 1 + numKeys;
  const c = Number(args[a0 + 4]);
  const n = (numKeys - 5 - c) / 3;
  return {
    /** stock, meta, epoch, rate, tokens */
    saleKeys: args.slice(1, 6).map(String),
    /** productId, idempotency TTL, order TTL, pending-stale ms */
    call: args.slice(a0, a0 + 4),
    confirms: Array.from({ length: c }, (_, j) => ({ key: String(args[6 + j]), orderId: String(args[a0 + 5 + j]) })),
    orders: Array.from({ length: n }, (_, i) => ({
      /** idem, user, order */
      keys: args.slice(6 + c + 3 * i, 9 + c + 3 * i).map(String),
      /** orderId, userId, quantity, token flag */
      args: args.slice(a0 + 5 + c + 4 * i, a0 + 9 + c + 4 * i),
    })),
  };
}

/** Marks the reservation durable (Kafka acked). */
export async function confirmReservation(redis: FluxRedis, productId: string, idempotencyKey: string, orderId: string): Promise<boolean> {
  return (await confirmReservations(redis, productId, [{ idempotencyKey, orderId }])) === 1;
}

/**
 * Marks the reservations of one sale durable in one round trip (one call per produce batch and
 * sale: the keys share the sale's slot). Returns how many records changed.
 */
export async function confirmReservations(
  redis: FluxRedis,
  productId: string,
  orders: ReadonlyArray<{ idempotencyKey: string; orderId: string }>,
): Promise<number> {
  if (orders.length === 0) return 0;
  const k = saleKeys(productId);
  return redis.fgConfirm(orders.length, ...orders.map((o) => k.idem(o.idempotencyKey)), 'd', ...orders.map((o) => o.orderId));
}

/** Marks the reservation's produce outcome unknown (maybe in Kafka): never released, adopted by a retry. */
export async function markOutcomeUnknown(redis: FluxRedis, productId: string, idempotencyKey: string, orderId: string): Promise<boolean> {
  return (await redis.fgConfirm(1, saleKeys(productId).idem(idempotencyKey), 'u', orderId)) === 1;
}

export type ReleaseResult = 'released' | 'fenced' | 'not_ours';

/** Gives the reservation back after a failed produce (see release.lua for the fencing). */
export async function releaseReservation(
  redis: FluxRedis,
  r: { productId: string; idempotencyKey: string; userId: string; orderId: string },
): Promise<ReleaseResult> {
  const k = saleKeys(r.productId);
  const reply = await redis.fgRelease(k.stock, k.epoch, k.idem(r.idempotencyKey), k.user(r.userId), orderStatusKey(r.orderId), k.meta, k.tokens, r.orderId, r.userId);
  return String(reply[0]) as ReleaseResult;
}

/** Reads an idempotency record without side effects (duplicates wait on a pending one). */
export async function readIdempotencyRecord(redis: Pick<FluxRedis, 'get'>, productId: string, idempotencyKey: string): Promise<IdempotencyRecord | null> {
  const raw = await redis.get(saleKeys(productId).idem(idempotencyKey));
  return raw === null ? null : parseIdempotencyRecord(raw);
}

/**
 * Which of a sale's idempotency keys hold a record (an order was placed, or is being placed, under
 * them): one MGET, since a sale's keys share its hash slot. Side-effect free.
 */
export async function idempotencyKeysInUse(redis: Pick<FluxRedis, 'mget'>, productId: string, idempotencyKeys: readonly string[]): Promise<boolean[]> {
  const k = saleKeys(productId);
  const raw = await redis.mget(idempotencyKeys.map((key) => k.idem(key)));
  return raw.map((r) => r !== null);
}

export interface AcceptedOrderRecord {
  orderId: string;
  productId: string;
  userId: string;
  quantity: number;
  acceptedAtMs: number;
}

/** The accepted-order record the reserve script wrote (until its TTL; null once unknown). */
export async function readAcceptedOrder(redis: FluxRedis, orderId: string): Promise<AcceptedOrderRecord | null> {
  const raw = await redis.get(orderStatusKey(orderId));
  if (raw === null) return null;
  const [productId, userId, quantity, acceptedAtMs] = raw.split('|');
  return { orderId, productId: productId!, userId: userId!, quantity: Number(quantity), acceptedAtMs: Number(acceptedAtMs) };
}

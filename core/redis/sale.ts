// Sale lifecycle in Redis, shared by the API (/init, /inventory) and the operator:
// seed from PostgreSQL's figures, close/open the gate, raise the allocation, change the settings,
// read the state, remove the keys. The only writer of the sale's meta hash (besides seed.lua).
import { masterNodes, type FluxRedis, type RedisClient } from './client.js';
import { GATE_STATES, saleKeys, type GateState } from './keys.js';
import { queueViewOfMeta, rebaseForRate, type AdmissionMode } from './queue.js';
import { storedKeyRecord, type StoredKeyHolder } from './reserve.js';

/** How buyers get to order: directly, or through the waiting room at ratePerSecond (queue.ts). */
export interface AdmissionSettings {
  mode: AdmissionMode;
  /** Places admitted per second (queued modes). */
  ratePerSecond: number | null;
  /** How long an admitted buyer may order with their token. */
  tokenTtlSeconds: number | null;
  /** Most places waiting; null = no cap. */
  maxQueue: number | null;
}

export const DIRECT: AdmissionSettings = { mode: 'direct', ratePerSecond: null, tokenTtlSeconds: null, maxQueue: null };

function encodeAdmission(a: AdmissionSettings): string[] {
  return ['admMode', a.mode, 'admRate', String(a.ratePerSecond ?? 0), 'admTtl', String(a.tokenTtlSeconds ?? 0), 'admMax', String(a.maxQueue ?? 0)];
}

/** What Redis needs to know about a sale; PostgreSQL's products row is the source of these figures. */
export interface SaleSeed {
  productId: string;
  /** Units still sellable according to PostgreSQL. */
  stock: number;
  initialStock: number;
  rateLimitPerSecond?: number | null;
  perUserLimit?: number | null;
  startsAt?: Date | null;
  endsAt?: Date | null;
  /** Absent = direct (today's behaviour). */
  admission?: AdmissionSettings;
  /**
   * Confirmed units per user in PostgreSQL (orders.ts confirmedUnitsByUser). The per-user counters
   * are rebuilt from it: after a FLUSHALL, a restart or a failover they would otherwise restart at 0.
   */
  userUnits?: ReadonlyMap<string, number>;
  /**
   * The confirmed order holding each idempotency key in PostgreSQL (orders.ts confirmedKeyHolders).
   * Their records are rebuilt when missing: after a FLUSHALL or an empty restart a retry of such a
   * key would otherwise reserve again under a new orderId, answer 200 and be stored 'duplicate'.
   */
  keyHolders?: ReadonlyArray<StoredKeyHolder>;
}

const ms = (d: Date | null | undefined) => (d ? d.getTime() : 0);

export interface SeedOptions {
  gate?: 'open' | 'paused';
  /**
   * The epoch Redis held when the seeded figures were computed: a seed whose epoch moved since
   * (another operator, the new leader, seeded meanwhile) is refused with StaleSeed, nothing changed.
   */
  expectEpoch?: number;
  /** The new epoch is at least this (an epoch key lost with Redis restarts at 0). */
  minEpoch?: number;
}

export class StaleSeed extends Error {
  constructor(productId: string, expected: number, current: number) {
    super(`seed of ${productId} refused: computed for epoch ${expected}, Redis is at epoch ${current} (seeded meanwhile by another operator)`);
    this.name = 'StaleSeed';
  }
}

/**
 * Sets stock and config, bumps the epoch and sets the gate (open by default). Returns the new epoch.
 * Only call it when no accepted order is still on its way to PostgreSQL (topic drained), or the
 * seeded stock counts those orders twice.
 */
export async function seedSale(redis: FluxRedis, sale: SaleSeed, opts: SeedOptions = {}): Promise<number> {
  if (!Number.isInteger(sale.stock) || sale.stock < 0) throw new RangeError(`stock must be an integer >= 0, got ${sale.stock}`);
  const k = saleKeys(sale.productId);
  // The counters and the key records go in the seed script itself: no reservation can read a
  // counter or a key not yet rebuilt, and no loss of data can fall between the rebuild and the gate
  // opening (a FLUSHALL there opened sales on empty counters: long chaos run 536877017, +1566 s).
  const counters = sale.perUserLimit && sale.userUnits?.size ? [...sale.userUnits].flatMap(([u, n]) => [u, n]) : [];
  const records = (sale.keyHolders ?? []).flatMap((h) => [h.idempotencyKey, storedKeyRecord(h, sale.stock)]);
  const reply = (await redis.fgSeed(
    k.stock, k.meta, k.epoch,
    sale.stock, ms(sale.startsAt), ms(sale.endsAt), sale.rateLimitPerSecond ?? 0, sale.perUserLimit ?? 0,
    sale.initialStock, opts.gate ?? 'open', opts.expectEpoch ?? '', opts.minEpoch ?? 1,
    ...encodeAdmission(sale.admission ?? DIRECT).filter((_, i) => i % 2 === 1),
    k.user(''), counters.length / 2, ...counters, k.idem(''), REBUILT_KEY_TTL_SEC, ...records,
  )) as unknown;
  if (Array.isArray(reply)) throw new StaleSeed(sale.productId, opts.expectEpoch ?? 0, Number(reply[1]));
  return Number(reply);
}

/** The sale's limits and window; null = none (encoded 0 in the meta hash, as seed.lua does). */
export interface SaleSettings {
  rateLimitPerSecond?: number | null;
  perUserLimit?: number | null;
  startsAt?: Date | null;
  endsAt?: Date | null;
  /** Absent = left as it is. */
  admission?: AdmissionSettings;
}

function encodeSettings(c: SaleSettings): string[] {
  return [
    'startsAt', String(ms(c.startsAt)), 'endsAt', String(ms(c.endsAt)), 'rateLimit', String(c.rateLimitPerSecond ?? 0), 'perUserLimit', String(c.perUserLimit ?? 0),
    ...(c.admission ? encodeAdmission(c.admission) : []),
  ];
}

/**
 * Updates limits and window in place, never the stock. `tx` is a connection of its own (WATCH is
 * per connection; the caller serializes its transactions). A sale not seeded is left alone: the
 * next seed writes the whole config. Returns false then.
 */
export async function configureSale(tx: RedisClient, productId: string, c: SaleSettings): Promise<boolean> {
  const k = saleKeys(productId);
  await tx.watch(k.meta);
  try {
    const [meta, [sec, micro]] = await Promise.all([tx.hgetall(k.meta), tx.time()]);
    if (Object.keys(meta).length === 0) {
      await tx.unwatch();
      return false;
    }
    const fields = encodeSettings(c);
    // A new admission rate takes over from where the serving counter is now (no burst, no place taken back).
    if (c.admission && String(c.admission.ratePerSecond ?? 0) !== (meta.admRate ?? '0')) {
      const rebase = rebaseForRate(queueViewOfMeta(meta, Number(sec) * 1000 + Math.floor(Number(micro) / 1000)));
      if (rebase) fields.push('qBase', String(rebase.qBase), 'qBaseAt', String(rebase.qBaseAt));
    }
    return (await tx.multi().hset(k.meta, ...fields).exec()) !== null;
  } catch (e) {
    await tx.unwatch().catch(() => undefined);
    throw e;
  }
}

/**
 * Adds (to − from) units once: only if the meta hash still says the allocation is `from`.
 * WATCH on meta only (reservations never touch it), so selling goes on meanwhile; INCRBY
 * commutes with their DECRBYs. Returns false when it was already applied or the state moved.
 * `tx` as for configureSale.
 */
export async function raiseSaleStock(tx: RedisClient, productId: string, from: number, to: number): Promise<boolean> {
  const k = saleKeys(productId);
  await tx.watch(k.meta);
  try {
    const [current, stockExists] = await Promise.all([tx.hget(k.meta, 'initialStock'), tx.exists(k.stock)]);
    if (current === null || Number(current) !== from || stockExists === 0) {
      await tx.unwatch();
      return false;
    }
    // Units came back: whoever waits in the queue is no longer told "sold out".
    const res = await tx.multi().incrby(k.stock, to - from).hset(k.meta, 'initialStock', String(to)).hdel(k.meta, 'qSoldOut').exec();
    return res !== null;
  } catch (e) {
    await tx.unwatch().catch(() => undefined);
    throw e;
  }
}

/** The Redis node holding a sale, as the operator watches it. */
export interface SaleNode {
  /** run_id: changes when the node restarts or a replica takes over (on a Cluster, per master). */
  runId: string;
  /**
   * The sale was seeded on another node (or another term of this one: demoted, resynced, promoted
   * again, with the same run_id): reserve.lua refuses here until a seed on this node.
   */
  fenced: boolean;
}

/** The node holding the sale (on a Cluster, its slot's master; any other master's run_id differs). */
export async function saleNode(redis: FluxRedis, productId: string): Promise<SaleNode> {
  const [runId, fenced] = await redis.fgSaleNode(saleKeys(productId).meta);
  return { runId: String(runId), fenced: Number(fenced) === 1 };
}

/** Closes the gate: the API answers 503 (recovering / paused) until openGate or seedSale. */
export async function closeGate(redis: FluxRedis, productId: string, state: Exclude<GateState, 'open'> = 'recovering'): Promise<void> {
  await redis.hset(saleKeys(productId).meta, 'state', state);
}

/** Reopens a seeded sale; returns false (and changes nothing) when it is not seeded. */
export async function openGate(redis: FluxRedis, productId: string): Promise<boolean> {
  const k = saleKeys(productId);
  return (await redis.fgOpenGate(k.stock, k.meta)) === 1;
}

export interface SaleState {
  productId: string;
  /** Stock key present. A sale that is not seeded has lost its data or was never loaded. */
  seeded: boolean;
  stock: number | null;
  /** Gate; null when the meta hash is missing. Unknown values are reported as they are. */
  state: GateState | string | null;
  epoch: number;
  initialStock: number | null;
  rateLimitPerSecond: number | null;
  perUserLimit: number | null;
  startsAt: Date | null;
  endsAt: Date | null;
  seededAt: Date | null;
  admission: AdmissionSettings;
}

const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
const positive = (v: string | undefined) => {
  const n = num(v);
  return n && n > 0 ? n : null;
};
const time = (v: string | undefined) => {
  const n = positive(v);
  return n ? new Date(n) : null;
};

/** One round trip (pipeline). */
export async function readSaleState(redis: FluxRedis, productId: string): Promise<SaleState> {
  const k = saleKeys(productId);
  const res = await redis.multi().get(k.stock).hgetall(k.meta).get(k.epoch).exec();
  if (!res) throw new Error('readSaleState: transaction aborted');
  for (const [err] of res) if (err) throw err;
  const stock = res[0]![1] as string | null;
  const meta = res[1]![1] as Record<string, string>;
  const epoch = res[2]![1] as string | null;
  return {
    productId,
    seeded: stock !== null,
    stock: stock === null ? null : Number(stock),
    state: meta.state ?? null,
    epoch: epoch === null ? 0 : Number(epoch),
    initialStock: num(meta.initialStock),
    rateLimitPerSecond: positive(meta.rateLimit),
    perUserLimit: positive(meta.perUserLimit),
    startsAt: time(meta.startsAt),
    endsAt: time(meta.endsAt),
    seededAt: time(meta.seededAt),
    admission: {
      mode: (meta.admMode as AdmissionMode | undefined) ?? 'direct',
      ratePerSecond: positive(meta.admRate),
      tokenTtlSeconds: positive(meta.admTtl),
      maxQueue: positive(meta.admMax),
    },
  };
}

export function isGateState(s: unknown): s is GateState {
  return (GATE_STATES as readonly unknown[]).includes(s);
}

/**
 * Removes every key of the sale (operator finalizer). Keeps nothing: idempotency records and
 * per-user counters go too. Accepted-order records (fg:order:{tag}:<id>) expire by TTL.
 * Returns the number of keys removed.
 * Invariant: the sale stops selling before any other key goes. The SCAN removes keys batch by
 * batch, so a sale still open would meanwhile sell to users whose counter (or key whose
 * idempotency record) is already gone: a 200 past the per-user limit, stored rejected. Stock and
 * meta go first, in one command: from then on every reservation answers not_seeded.
 */
export async function deleteSaleKeys(redis: FluxRedis, productId: string): Promise<number> {
  const k = saleKeys(productId);
  let removed = await redis.unlink(k.stock, k.meta);
  // SCAN is per node: on a Cluster, ask every master (the sale's keys all sit on one of them).
  for (const node of masterNodes(redis)) {
    const stream = node.scanStream({ match: saleKeys(productId).pattern, count: 500 });
    for await (const batch of stream as AsyncIterable<string[]>) {
      if (batch.length) removed += await redis.unlink(...batch);
    }
  }
  return removed;
}

/**
 * How long a rebuilt idempotency record lives: the API's IDEMPOTENCY_TTL_SECONDS default. The
 * operator does not know the API's setting; a longer life only refuses a second order longer.
 */
const REBUILT_KEY_TTL_SEC = 86_400;


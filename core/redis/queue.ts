// The waiting room of a queued sale in Redis: join, poll, admission and the sweep of expired tokens.
// Invariant: a place's turn comes from the serving counter, a pure function of Redis's clock and a
// few counters in the sale's meta hash (see queue-join.lua), so no background loop owns admission:
// any API pod (and the operator) reads the same answer, and the sweep is idempotent.
import { createHash, randomBytes } from 'node:crypto';
import type { FluxRedis } from './client.js';
import { saleKeys } from './keys.js';

export const ADMISSION_MODES = ['direct', 'queue', 'queue-randomized-start'] as const;
export type AdmissionMode = (typeof ADMISSION_MODES)[number];

export const isQueued = (mode: string | null | undefined): boolean => mode === 'queue' || mode === 'queue-randomized-start';

/** The queue as one read of the meta hash sees it (queue-poll.lua), at Redis's time `nowMs`. */
export interface QueueView {
  nowMs: number;
  /** Gate (open | recovering | paused); null = the sale is not in Redis. */
  state: string | null;
  mode: AdmissionMode | string;
  startsAtMs: number;
  endsAtMs: number;
  ratePerSecond: number;
  joined: number;
  base: number;
  baseAtMs: number;
  expired: number;
  /** Places handed out before the start (randomized start); null while the start has not come. */
  early: number | null;
  seed: string;
  soldOut: boolean;
}

const int = (v: unknown) => (v === null || v === undefined || v === false ? 0 : Number(v) || 0);

/** Parses [nowMs, state, startsAt, endsAt, admMode, admRate, qJoined, qBase, qBaseAt, qExpired, qEarly, qSeed, qSoldOut]. */
export function parseQueueView(f: unknown[]): QueueView {
  const str = (v: unknown) => (v === null || v === undefined || v === false ? null : String(v));
  return {
    nowMs: int(f[0]),
    state: str(f[1]),
    startsAtMs: int(f[2]),
    endsAtMs: int(f[3]),
    mode: str(f[4]) ?? 'direct',
    ratePerSecond: int(f[5]),
    joined: int(f[6]),
    base: int(f[7]),
    baseAtMs: int(f[8]),
    expired: int(f[9]),
    early: str(f[10]) === null ? null : int(f[10]),
    seed: str(f[11]) ?? '',
    soldOut: str(f[12]) === '1',
  };
}

/** Places admitted so far (the serving counter): the same formula as the Lua scripts. */
export function served(v: QueueView, atMs = v.nowMs): number {
  return Math.min(v.joined, v.base + v.expired + Math.max(0, Math.floor(((atMs - v.baseAtMs) * v.ratePerSecond) / 1000)));
}

/**
 * How many arrived before the start (they are shuffled), or null while that is not settled yet.
 * After the start without a join since, every place so far is early (the first later join records it).
 */
export function earlyGroup(v: QueueView): number | null {
  if (v.mode !== 'queue-randomized-start' || v.startsAtMs === 0) return 0;
  if (v.early !== null) return v.early;
  return v.nowMs >= v.startsAtMs ? v.joined : null;
}

/**
 * The place in line of join number `n` (1-based): n itself, or for a randomized start the image of n
 * under a keyed permutation of 1..early (every early arrival has the same chance of any early place).
 * null = randomized start not reached yet (the place is drawn at the start).
 */
export function placeOf(n: number, v: QueueView): number | null {
  const early = earlyGroup(v);
  if (early === null) return null;
  if (n > early) return n;
  return permute(n - 1, early, v.seed) + 1;
}

/** A pseudo-random permutation of [0, size): a 4-round Feistel network with cycle-walking. */
export function permute(x: number, size: number, seed: string): number {
  if (size <= 1) return x;
  let bits = Math.max(2, Math.ceil(Math.log2(size)));
  if (bits % 2) bits++;
  const half = bits / 2;
  const mask = 2 ** half - 1;
  let y = x;
  do {
    let l = Math.floor(y / 2 ** half);
    let r = y & mask;
    for (let round = 0; round < 4; round++) {
      const f = createHash('sha256').update(`${seed}|${round}|${r}`).digest().readUInt32BE(0) & mask;
      [l, r] = [r, (l ^ f) & mask];
    }
    y = l * 2 ** half + r;
  } while (y >= size);
  return y;
}

/**
 * The counter's fields that keep served() where it is at nowMs under a new rate (a rate change
 * must neither admit a burst nor take back places already reached). null = nothing to move (the
 * clock has not started, or runs from a future start).
 */
export function rebaseForRate(v: QueueView): { qBase: number; qBaseAt: number } | null {
  if (v.baseAtMs === 0 || v.nowMs < v.baseAtMs) return null;
  return { qBase: served(v) - v.expired, qBaseAt: v.nowMs };
}

/** The meta hash (HGETALL) at Redis time nowMs, as queue-poll.lua would return it. */
export function queueViewOfMeta(meta: Record<string, string>, nowMs: number): QueueView {
  const f = ['state', 'startsAt', 'endsAt', 'admMode', 'admRate', 'qJoined', 'qBase', 'qBaseAt', 'qExpired', 'qEarly', 'qSeed', 'qSoldOut'];
  return parseQueueView([nowMs, ...f.map((k) => meta[k] ?? null)]);
}

/** Waiting places (not admitted yet) and admitted places. */
export function queueFigures(v: QueueView): { waiting: number; admitted: number } {
  const admitted = served(v);
  return { waiting: Math.max(0, v.joined - admitted), admitted };
}

/** Seconds until place `place` is admitted at the sale's rate (from now). */
export function secondsUntil(place: number, v: QueueView): number {
  if (place <= served(v)) return 0;
  if (v.ratePerSecond <= 0) return Infinity;
  const atMs = v.baseAtMs + ((place - v.base - v.expired) * 1000) / v.ratePerSecond;
  return Math.max(0, (atMs - v.nowMs) / 1000);
}

/** A place: the value stored for the user, "<join number>:<join unix second>". */
export interface Place {
  number: number;
  joinedAtSec: number;
}

export const placeValue = (p: Place) => `${p.number}:${p.joinedAtSec}`;

function parsePlace(raw: unknown): Place {
  const [n, s] = String(raw).split(':');
  return { number: Number(n), joinedAtSec: Number(s) };
}

export type JoinResult =
  | { kind: 'joined'; place: Place; existed: boolean; view: QueueView }
  | { kind: 'not_queued' | 'not_seeded' | 'ended' | 'sold_out' }
  | { kind: 'queue_full'; waiting: number };

export async function joinQueue(redis: FluxRedis, productId: string, userId: string): Promise<JoinResult> {
  const k = saleKeys(productId);
  const reply = (await redis.fgQueueJoin(k.meta, k.queue, k.stock, userId, randomBytes(12).toString('hex'))) as unknown[];
  const code = String(reply[0]);
  if (code === 'joined') return { kind: 'joined', place: parsePlace(reply[1]), existed: Number(reply[2]) === 1, view: parseQueueView(reply.slice(3)) };
  if (code === 'queue_full') return { kind: 'queue_full', waiting: Number(reply[1]) };
  return { kind: code as 'not_queued' };
}

/** One key, one round trip: the whole state a poll needs (null = the sale is not in Redis). */
export async function pollQueue(redis: FluxRedis, productId: string): Promise<QueueView | null> {
  const v = parseQueueView(await redis.fgQueuePoll(saleKeys(productId).meta));
  return v.state === null ? null : v;
}

export type AdmitResult =
  /** fresh: this call handed the token out (the first admitted poll). */
  | { kind: 'admitted' | 'used'; expiresAtMs: number; fresh: boolean }
  | { kind: 'expired' | 'waiting' | 'unknown' | 'sold_out' | 'ended' };

/** The admission token's expiry for a place the counter reached (fixed at the first call). */
export async function admit(redis: FluxRedis, productId: string, userId: string, place: Place, position: number): Promise<AdmitResult> {
  const k = saleKeys(productId);
  const reply = await redis.fgQueueAdmit(k.meta, k.queue, k.tokens, k.user(userId), k.reach, k.claims, userId, placeValue(place), position);
  const code = String(reply[0]);
  if (code === 'admitted' || code === 'used') return { kind: code, expiresAtMs: Number(reply[1]), fresh: Number(reply[2]) === 1 };
  return { kind: code as 'expired' };
}

/**
 * Gives the slots of unused admissions to the next in line: tokens expired unused, and places
 * reached tokenTtlSeconds ago whose token was never fetched. Returns how many.
 */
export async function sweepExpiredTokens(redis: FluxRedis, productId: string, max = 1000): Promise<number> {
  const k = saleKeys(productId);
  return Number(await redis.fgQueueSweep(k.meta, k.tokens, k.reach, k.claims, max));
}

// The imperative shell around decide(): observe() gathers the world into one plain object,
// apply() performs the actions, then the status is written (only when it changed).
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../core/logging.js';
import { remainingBeforeBarrier, type DrainBarrier } from './adapters/lag-reader.js';
import type { Products } from './adapters/products.js';
import type { RedisSales } from './adapters/redis-sales.js';
import { describeError, httpStatus, type Kube } from './kube/client.js';
import type { EventRecorder } from './kube/events.js';
import { decide } from './model/decide.js';
import { withDefaults } from './model/defaults.js';
import { FINALIZER, GROUP, KIND, VERSION, type Action, type Decision, type FlashSale, type FlashSaleStatus, type LagView, type Observed, type Result, type Settings } from './model/types.js';
import { lagViewFor, type LagMonitor } from './lag-monitor.js';
import { forgetSale, recordSale, type OperatorMetrics } from './metrics.js';
import type { ScalerLoop } from './scaling/scaler-loop.js';

/**
 * What the operator remembers per sale between reconciles: only what is harmless to lose (on a
 * restart or a leadership change it is forgotten). Recovery state lives in the status and Redis.
 */
interface SaleMemory {
  auditPending?: { redis: number; postgres: number; sinceMs: number };
}

export interface ReconcilerDeps {
  kube: Kube;
  products: Products;
  redis: RedisSales;
  lag: LagMonitor;
  scaler: ScalerLoop;
  events: EventRecorder;
  metrics: OperatorMetrics;
  logger: Logger;
  settings: Settings;
  /** Reservations older than this are not waited for before a recovery's barrier (their API pod died). */
  inFlightWaitMs: number;
  /** Checked before every write: a replica that lost the Lease stops acting at once. */
  isLeader: () => boolean;
  /** Every FlashSale the informer knows (to find an older sale of the same product). */
  allSales: () => FlashSale[];
}

export class NotLeader extends Error {
  constructor() {
    super('not the leader anymore');
    this.name = 'NotLeader';
  }
}

export class Reconciler {
  private readonly memory = new Map<string, SaleMemory>();

  constructor(private readonly d: ReconcilerDeps) {}

  /** Reconciles one FlashSale; returns when to come back (ms), or undefined for the periodic resync. */
  async reconcile(namespace: string, name: string): Promise<number | undefined> {
    const stored = await this.d.kube.getFlashSale(namespace, name);
    const sale = stored && withDefaults(stored);
    if (!sale) {
      forgetSale(this.d.metrics, namespace, name);
      return undefined;
    }
    const observed = await this.observe(sale);
    const decision = decide(observed, this.d.settings);
    const updated = await this.apply(sale, decision);
    if (updated) await this.writeStatus(updated, decision);
    recordSale(this.d.metrics, namespace, name, decision.status, observed.lag.ok ? observed.lag.value.own?.lag : undefined);
    return decision.requeueAfterMs;
  }

  forget(uid: string | undefined): void {
    if (uid) this.memory.delete(uid);
  }

  /** Leadership lost: a later term starts from the status and Redis alone. */
  reset(): void {
    this.memory.clear();
  }

  private mem(sale: FlashSale): SaleMemory {
    const uid = sale.metadata.uid ?? `${sale.metadata.namespace}/${sale.metadata.name}`;
    let m = this.memory.get(uid);
    if (!m) this.memory.set(uid, (m = {}));
    return m;
  }

  async observe(sale: FlashSale): Promise<Observed> {
    const m = this.mem(sale);
    const productId = sale.spec.productId;
    const barrier = sale.status?.phase === 'Recovering' ? barrierFromStatus(sale.status.recovery?.barrier) : undefined;
    // Order matters: the lag is read BEFORE PostgreSQL, so "drained" proves that the PostgreSQL
    // figures read next already include every order below the barrier.
    let drained: boolean | undefined;
    let drainRemaining: number | undefined;
    let lag: Result<LagView>;
    if (barrier) {
      try {
        const reading = await this.d.lag.readNow();
        drainRemaining = remainingBeforeBarrier(reading, barrier);
        drained = drainRemaining === 0;
        lag = { ok: true, value: { ...lagViewFor(reading, productId), atMs: Date.now() } };
      } catch (e) {
        drained = false;
        lag = { ok: false, error: describeError(e) };
      }
    } else if (sale.status?.redis?.epoch === undefined) {
      // Never seeded: the first seed needs a reading taken after the sale was created (see
      // model/recovery.ts), not the poll loop's latest.
      try {
        const reading = await this.d.lag.readNow();
        lag = { ok: true, value: { atMs: Date.now(), total: reading.lag.total, partitions: reading.partitions, partitionsWithLag: reading.partitionsWithLag } };
      } catch (e) {
        lag = { ok: false, error: describeError(e) };
      }
    } else {
      const l = this.d.lag.latest;
      lag = !l
        ? { ok: false, error: 'no lag reading yet' }
        : l.ok
          ? { ok: true, value: { ...lagViewFor(l.reading, productId), atMs: l.atMs } }
          : { ok: false, error: l.error };
    }
    const [postgres, redis] = await Promise.all([
      settle(() => this.d.products.read(productId)),
      settle(async () => {
        const [node, s] = await Promise.all([this.d.redis.node(productId), this.d.redis.read(productId)]);
        return { runId: node.runId, sale: { ...s, fenced: node.fenced } };
      }),
    ]);
    // Counted only after the gate was seen closed: from then on no reservation can start.
    let inFlight: number | undefined;
    if (!barrier && redis.ok && redis.value.sale.gate === 'recovering') {
      inFlight = await this.d.redis.reservationsInFlight(productId, this.d.inFlightWaitMs).catch(() => undefined);
    }
    const o: Observed = {
      now: new Date(),
      sale,
      postgres,
      redis,
      lag,
      drained,
      ...(drainRemaining !== undefined ? { drainRemaining } : {}),
      ...(inFlight !== undefined ? { inFlight } : {}),
      ...(m.auditPending ? { auditPending: m.auditPending } : {}),
    };
    const workers = this.d.scaler.viewFor(sale);
    if (workers) o.workers = workers;
    const claimedBy = olderSaleOf(sale, this.d.allSales());
    if (claimedBy) o.productClaimedBy = claimedBy;
    return o;
  }

  /** Performs the actions in order; stops at the first failure (the next reconcile resumes). */
  private async apply(sale: FlashSale, decision: Decision): Promise<FlashSale | undefined> {
    let current: FlashSale = sale;
    const m = this.mem(sale);
    const ref = { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, namespace: sale.metadata.namespace, name: sale.metadata.name, uid: sale.metadata.uid };
    const pid = sale.spec.productId;
    for (const a of decision.actions) {
      if (!this.d.isLeader()) throw new NotLeader();
      switch (a.kind) {
        case 'addFinalizer':
          current = await this.d.kube.setFinalizers(current, [...(current.metadata.finalizers ?? []), FINALIZER]);
          break;
        case 'removeFinalizer':
          await this.d.kube.setFinalizers(current, (current.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
          this.forget(sale.metadata.uid);
          return undefined; // the object may be gone now: no status to write
        case 'deleteRedisKeys': {
          const n = await this.d.redis.deleteKeys(a.productId);
          this.d.logger.info({ productId: a.productId, keys: n }, 'deleted the Redis keys of a deleted FlashSale');
          break;
        }
        case 'ensureProduct':
          await this.d.products.ensure(a);
          break;
        case 'raiseStockInPostgres':
          if (!(await this.d.products.raise(a.productId, a.from, a.to))) this.d.logger.info({ ...a }, 'restock already applied in PostgreSQL');
          break;
        case 'lowerStockInPostgres':
          await this.d.products.lower(a.productId, a.from, a.to);
          break;
        case 'raiseStockInRedis':
          if (!(await this.d.redis.raiseStock(a.productId, a.from, a.to))) this.d.logger.info({ ...a }, 'restock in Redis skipped (already applied or raced)');
          break;
        case 'closeGate':
          await this.d.redis.closeGate(a.productId, a.state);
          this.d.logger.info({ productId: pid, state: a.state }, 'gate closed');
          break;
        case 'openGate':
          await this.d.redis.openGate(a.productId);
          break;
        case 'configureRedis':
          await this.d.redis.configure(a.productId, a);
          break;
        case 'captureDrainBarrier': {
          // Into the status written below: a leader that takes over resumes this very barrier.
          // Kafka unreachable: no barrier yet (the gate stays closed); a later reconcile captures it.
          // Failing the whole reconcile instead would also lose the status it reports.
          const reading = await this.d.lag.readNow().catch((e: unknown) => {
            this.d.logger.warn({ productId: pid, err: describeError(e) }, 'recovery: log-end offsets unreadable; the barrier is captured on a later reconcile');
            return undefined;
          });
          if (!reading) break;
          const barrier = Object.fromEntries([...reading.high].map(([p, o]) => [String(p), String(o)]));
          if (decision.status.recovery) decision.status.recovery.barrier = barrier;
          this.d.logger.info({ productId: pid, barrier }, 'recovery: waiting for the workers to reach these offsets');
          break;
        }
        case 'seed': {
          // The per-user counters and the idempotency records of stored orders come from PostgreSQL
          // too (Redis may have lost them; the topic is drained, so PostgreSQL holds every order).
          const [userUnits, keyHolders] = await Promise.all([this.d.products.userUnits(pid), this.d.products.keyHolders(pid)]);
          const epoch = await this.d.redis.seed(a.seed, userUnits, keyHolders);
          if (decision.status.redis && epoch !== decision.status.redis.epoch) decision.status.redis.epoch = epoch;
          this.d.logger.info({ productId: pid, stock: a.seed.stock, epoch, gate: a.seed.gate }, 'seeded Redis from PostgreSQL');
          break;
        }
        case 'auditPending':
          if (a.value) m.auditPending = a.value;
          else delete m.auditPending;
          break;
        case 'recoveryFinished':
          this.d.metrics.recoveries.inc({ reason: a.reason });
          this.d.metrics.recoveryDuration.observe(a.seconds);
          this.d.logger.info({ productId: pid, reason: a.reason, seconds: a.seconds }, 'recovery finished: gate open');
          break;
        case 'event':
          await this.d.events.record(ref, a.type, a.reason, a.message);
          break;
        default:
          assertNever(a);
      }
    }
    return current;
  }

  private async writeStatus(sale: FlashSale, decision: Decision): Promise<void> {
    if (isDeepStrictEqual(stripUndefined(sale.status ?? {}), stripUndefined(decision.status))) return;
    if (!this.d.isLeader()) throw new NotLeader();
    try {
      // A merge patch keeps every key it does not name: name the removed ones (null), or a finished
      // recovery's barrier would stay and a later recovery would trust it.
      await this.d.kube.patchStatus(sale, mergePatchOf(sale.status ?? {}, decision.status) as FlashSaleStatus);
    } catch (e) {
      if (httpStatus(e) === 404) return;
      throw e;
    }
  }
}

/** The oldest live FlashSale with the same productId owns it; any other one is ignored. */
export function olderSaleOf(sale: FlashSale, all: FlashSale[]): string | undefined {
  const rank = (s: FlashSale) => `${s.metadata.creationTimestamp ?? ''}|${s.metadata.namespace}/${s.metadata.name}`;
  let owner: FlashSale | undefined;
  for (const s of all) {
    if (s.spec?.productId !== sale.spec.productId || s.metadata.deletionTimestamp) continue;
    if (!owner || rank(s) < rank(owner)) owner = s;
  }
  if (!owner || owner.metadata.uid === sale.metadata.uid || (owner.metadata.namespace === sale.metadata.namespace && owner.metadata.name === sale.metadata.name)) return undefined;
  return `${owner.metadata.namespace}/${owner.metadata.name}`;
}

/** `next`, plus null for every object key of `prev` that `next` drops (JSON merge patch, RFC 7386). */
export function mergePatchOf(prev: unknown, next: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(prev) || !isObject(next)) return next;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(prev)) if (!(k in next) || next[k] === undefined) out[k] = null;
  for (const [k, v] of Object.entries(next)) if (v !== undefined) out[k] = mergePatchOf(prev[k], v);
  return out;
}

function barrierFromStatus(b: Record<string, string> | undefined): DrainBarrier | undefined {
  if (!b || Object.keys(b).length === 0) return undefined;
  return new Map(Object.entries(b).map(([p, o]) => [Number(p), BigInt(o)]));
}

async function settle<T>(f: () => Promise<T>): Promise<Result<T>> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    return { ok: false, error: describeError(e) };
  }
}

function stripUndefined<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function assertNever(a: never): never {
  throw new Error(`unknown action ${JSON.stringify(a as Action)}`);
}

// The FlashSale resource as the operator sees it, and the plain "observed world" object that
// decide() turns into actions. Nothing here does I/O.
import type { Product } from '../../core/postgres/products.js';
import type { AdmissionSettings } from '../../core/redis/sale.js';
import type { Binding, Hold, WorkersSpec } from './lag-scaler.js';

export const GROUP = 'fluxgate.io';
export const VERSION = 'v1alpha1';
export const PLURAL = 'flashsales';
export const KIND = 'FlashSale';
export const FINALIZER = 'fluxgate.io/redis-keys';

export const PHASES = ['Pending', 'Active', 'Recovering', 'SoldOut', 'Ended', 'Paused'] as const;
export type Phase = (typeof PHASES)[number];
export type ConditionType = 'Ready' | 'StockSeeded' | 'WorkersScaled' | 'Consistent' | 'MetricsAvailable';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface FlashSaleSpec {
  productId: string;
  stock: number;
  startsAt?: string;
  endsAt?: string;
  limits?: { perUser?: number; rateLimitPerSecond?: number };
  workers?: WorkersSpec;
  paused?: boolean;
  /** Absent = direct. */
  admission?: { mode: string; ratePerSecond?: number; tokenTtlSeconds?: number; maxQueue?: number };
}

export type RecoveryReason =
  | 'RedisRestarted'
  | 'RedisKeysMissing'
  | 'EpochMismatch'
  | 'AuditMismatch'
  | 'StockLowered'
  | 'NotSeededByUs'
  | 'InterruptedRecovery'
  | 'AllocationMismatch';

export interface FlashSaleStatus {
  observedGeneration?: number;
  phase?: Phase;
  message?: string;
  stock?: { allocated?: number; postgres?: number; redis?: number; remaining?: number; sold?: number };
  workers?: {
    deployment?: string;
    replicas?: number;
    desired?: number;
    lag?: number;
    partition?: number;
    partitions?: number;
    partitionsWithLag?: number;
    cap?: Binding | Hold;
    lastScaleTime?: string;
  };
  redis?: { runId?: string; epoch?: number };
  /** The waiting room of a queued sale (absent with mode direct). */
  admission?: { waiting: number; admitted: number; rateMeasured: number; estimatedWaitSeconds: number; observedAt: string };
  recovery?: {
    count?: number;
    startedAt?: string;
    finishedAt?: string;
    lastDurationSeconds?: number;
    reason?: RecoveryReason;
    /**
     * The drain barrier of the recovery in progress: log-end offset (decimal string) per partition,
     * captured after the gate closed and every earlier reservation reached Kafka. In the status, not
     * in memory, so a new leader resumes the same recovery and never reuses one of an earlier term.
     */
    barrier?: Record<string, string>;
  };
  conditions?: Condition[];
}

export interface FlashSale {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
  };
  spec: FlashSaleSpec;
  status?: FlashSaleStatus;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

/** The product row in PostgreSQL (the truth). */
/** The products row as the model sees it (core/postgres/products.ts's Product, times as ISO strings). */
export type ProductRow = Omit<Product, 'id' | 'startsAt' | 'endsAt'> & { startsAt: string | null; endsAt: string | null };

/** The sale in Redis; every field null when its key is missing. */
export interface RedisSale {
  stock: number | null;
  epoch: number | null;
  gate: 'open' | 'recovering' | 'paused' | null;
  /** The allocation (products.initial_stock) the Redis stock reflects. */
  initialStock: number | null;
  perUserLimit: number | null;
  rateLimitPerSecond: number | null;
  startsAtMs: number | null;
  endsAtMs: number | null;
  /** Admission settings in the meta hash (absent = direct). */
  admission?: AdmissionSettings;
  /** The queue's figures now (queued sales only). */
  queue?: { waiting: number; admitted: number };
  /**
   * Seeded on another node than the one holding it now (or another term of it: demoted, resynced,
   * promoted again, run_id unchanged): reservations are refused there until a reseed.
   */
  fenced?: boolean;
}

export interface LagView {
  /** When this reading was taken (ms since the epoch). */
  atMs?: number;
  /** The worker group's lag over the whole topic (what recovery waits on). */
  total: number;
  partitions: number;
  partitionsWithLag: number;
  /** This sale's own partition (its orders are keyed by productId) and that partition's lag. */
  own?: { partition: number; lag: number };
}

/** What the per-Deployment scaler last did for this sale's Deployment. */
export interface WorkersView {
  deployment: string;
  replicas?: number;
  desired?: number;
  cap?: Binding | Hold;
  lastScaleTime?: string;
  /** Set when the Deployment could not be read or scaled. */
  error?: { reason: string; message: string };
}

export interface Observed {
  now: Date;
  sale: FlashSale;
  postgres: Result<ProductRow | null>;
  redis: Result<{ runId: string; sale: RedisSale }>;
  /** Latest lag read of the orders topic for the worker group. */
  lag: Result<LagView>;
  /**
   * Whether the workers have persisted every order below status.recovery.barrier (committed
   * offsets past it). undefined = no barrier in the status yet.
   */
  drained?: boolean;
  /**
   * Reservations not yet durable in Kafka (produce in flight), read only once the recovery's gate
   * is closed and before its barrier is captured: none may be left when the barrier is captured, or
   * an order produced late would sit above it and be missed by the reseed. Reservations older than
   * Settings.inFlightWaitMs are not counted (their API pod died). undefined = not read.
   */
  inFlight?: number;
  /** Orders still to persist before the barrier, for the status message. */
  drainRemaining?: number;
  workers?: WorkersView;
  /** An older FlashSale that already sells this productId (namespace/name), if any. */
  productClaimedBy?: string;
  /** A Redis/PostgreSQL mismatch seen earlier at lag 0, waiting for a second, agreeing read. */
  auditPending?: { redis: number; postgres: number; sinceMs: number };
}

export interface Settings {
  /** How long a mismatch must hold (same numbers, lag 0) before the operator repairs it. */
  auditConfirmMs: number;
  /** Requeue while waiting on lag (recovery drain). */
  lagPollMs: number;
  /** Backoff after a dependency failure. */
  retryMs: number;
}

export interface SeedSettings {
  productId: string;
  stock: number;
  initialStock: number;
  perUserLimit: number | null;
  rateLimitPerSecond: number | null;
  startsAtMs: number | null;
  endsAtMs: number | null;
  /** Absent = direct. */
  admission?: AdmissionSettings;
  /** Gate state after seeding. */
  gate: 'open' | 'paused';
  /** The new epoch must be at least this (an epoch key lost with Redis must not restart at 1). */
  minEpoch: number;
  /** The epoch observed in Redis when this seed was decided (0 = none): refused if it moved since. */
  expectEpoch: number;
}

export type Action =
  | { kind: 'addFinalizer' }
  | { kind: 'removeFinalizer' }
  | { kind: 'deleteRedisKeys'; productId: string }
  | { kind: 'ensureProduct'; productId: string; allocation: number; perUserLimit: number | null; rateLimitPerSecond: number | null; startsAt: string | null; endsAt: string | null }
  | { kind: 'raiseStockInPostgres'; productId: string; from: number; to: number }
  | { kind: 'raiseStockInRedis'; productId: string; from: number; to: number }
  | { kind: 'lowerStockInPostgres'; productId: string; from: number; to: number }
  | { kind: 'closeGate'; productId: string; state: 'recovering' | 'paused' }
  | { kind: 'openGate'; productId: string }
  | { kind: 'configureRedis'; productId: string; perUserLimit: number | null; rateLimitPerSecond: number | null; startsAtMs: number | null; endsAtMs: number | null; admission: AdmissionSettings }
  /** Reads the log-end offsets of the orders topic into status.recovery.barrier. */
  | { kind: 'captureDrainBarrier' }
  | { kind: 'seed'; seed: SeedSettings }
  | { kind: 'auditPending'; value: { redis: number; postgres: number; sinceMs: number } | undefined }
  | { kind: 'recoveryFinished'; reason: RecoveryReason; seconds: number }
  | { kind: 'event'; type: 'Normal' | 'Warning'; reason: string; message: string };

export interface Decision {
  actions: Action[];
  /** The status to write (written only when it differs from the current one). */
  status: FlashSaleStatus;
  /** Reconcile again after this many ms (undefined = at the periodic resync). */
  requeueAfterMs?: number;
}

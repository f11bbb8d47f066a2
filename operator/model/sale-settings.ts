// The sale's settings as the spec wants them, compared with PostgreSQL's row and Redis's meta hash,
// and the seed action built from them (PostgreSQL's figures are the source of every seed).
import { ADMISSION_MODES, isQueued, type AdmissionMode } from '../../core/redis/queue.js';
import { DIRECT, type AdmissionSettings } from '../../core/redis/sale.js';
import type { Action, FlashSaleSpec, ProductRow, RedisSale } from './types.js';

/** The limits and window PostgreSQL keeps (the products row). */
export interface ProductSettings {
  perUserLimit: number | null;
  rateLimitPerSecond: number | null;
  startsAt: string | null;
  endsAt: string | null;
}

/** ... plus the admission settings, which live in Redis only. */
export interface WantedSettings extends ProductSettings {
  admission: AdmissionSettings;
}

export const TOKEN_TTL_DEFAULT_SECONDS = 120;

export function wantedSettings(spec: FlashSaleSpec): WantedSettings {
  return { ...productSettings(spec), admission: wantedAdmission(spec) };
}

export function productSettings(spec: FlashSaleSpec): ProductSettings {
  return {
    perUserLimit: spec.limits?.perUser ?? null,
    rateLimitPerSecond: spec.limits?.rateLimitPerSecond ?? null,
    startsAt: spec.startsAt ? new Date(spec.startsAt).toISOString() : null,
    endsAt: spec.endsAt ? new Date(spec.endsAt).toISOString() : null,
  };
}

function wantedAdmission(spec: FlashSaleSpec): AdmissionSettings {
  const a = spec.admission;
  if (!a || !isQueued(a.mode)) return DIRECT;
  return { mode: a.mode as AdmissionMode, ratePerSecond: a.ratePerSecond ?? null, tokenTtlSeconds: a.tokenTtlSeconds ?? TOKEN_TTL_DEFAULT_SECONDS, maxQueue: a.maxQueue ?? null };
}

/**
 * What is wrong with spec.admission, or undefined. The CRD refuses all of it; this catches a
 * FlashSale stored before the field existed or written past the schema, before Redis sees it.
 */
export function admissionProblem(spec: FlashSaleSpec): string | undefined {
  const a = spec.admission;
  if (!a) return undefined;
  if (!(ADMISSION_MODES as readonly string[]).includes(a.mode)) return `spec.admission.mode ${JSON.stringify(a.mode)} is not one of ${ADMISSION_MODES.join(', ')}`;
  const int = (v: unknown, min: number) => v === undefined || (Number.isInteger(v) && (v as number) >= min);
  if (isQueued(a.mode) && a.ratePerSecond === undefined) return `spec.admission.ratePerSecond is required with mode ${a.mode}`;
  if (!int(a.ratePerSecond, 1)) return 'spec.admission.ratePerSecond must be an integer >= 1';
  if (!int(a.tokenTtlSeconds, 5)) return 'spec.admission.tokenTtlSeconds must be an integer >= 5';
  if (!int(a.maxQueue, 1)) return 'spec.admission.maxQueue must be an integer >= 1';
  return undefined;
}

const sameAdmission = (a: AdmissionSettings | undefined, b: AdmissionSettings) => {
  const x = a ?? DIRECT;
  return x.mode === b.mode && x.ratePerSecond === b.ratePerSecond && x.tokenTtlSeconds === b.tokenTtlSeconds && x.maxQueue === b.maxQueue;
};

const sameTime = (a: string | null, b: string | null) => (a === null || b === null ? a === b : Date.parse(a) === Date.parse(b));
const msOf = (t: string | null) => (t ? Date.parse(t) : null);

export function sameSettings(p: ProductRow, w: ProductSettings): boolean {
  return (
    p.perUserLimit === w.perUserLimit &&
    p.rateLimitPerSecond === w.rateLimitPerSecond &&
    sameTime(p.startsAt, w.startsAt) &&
    sameTime(p.endsAt, w.endsAt)
  );
}

export function sameRedisSettings(r: RedisSale, w: WantedSettings): boolean {
  return (
    r.perUserLimit === w.perUserLimit &&
    r.rateLimitPerSecond === w.rateLimitPerSecond &&
    r.startsAtMs === msOf(w.startsAt) &&
    r.endsAtMs === msOf(w.endsAt) &&
    sameAdmission(r.admission, w.admission)
  );
}

/** The limits and window in Redis's terms (epoch ms). */
export function redisSettings(w: WantedSettings) {
  return { perUserLimit: w.perUserLimit, rateLimitPerSecond: w.rateLimitPerSecond, startsAtMs: msOf(w.startsAt), endsAtMs: msOf(w.endsAt), admission: w.admission };
}

/** Seeds Redis with PostgreSQL's figures and the spec's settings. */
export function seedAction(a: { productId: string; product: ProductRow; wanted: WantedSettings; gate: 'open' | 'paused'; minEpoch: number; expectEpoch: number }): Action {
  return {
    kind: 'seed',
    seed: {
      productId: a.productId,
      stock: a.product.stock,
      initialStock: a.product.initialStock,
      ...redisSettings(a.wanted),
      gate: a.gate,
      minEpoch: a.minEpoch,
      expectEpoch: a.expectEpoch,
    },
  };
}

// The sale's settings as the spec wants them, compared with PostgreSQL's row and Redis's meta hash,
// and the seed action built from them (PostgreSQL's figures are the source of every seed).
import type { Action, FlashSaleSpec, ProductRow, RedisSale } from './types.js';

export interface WantedSettings {
  perUserLimit: number | null;
  rateLimitPerSecond: number | null;
  startsAt: string | null;
  endsAt: string | null;
}

export function wantedSettings(spec: FlashSaleSpec): WantedSettings {
  return {
    perUserLimit: spec.limits?.perUser ?? null,
    rateLimitPerSecond: spec.limits?.rateLimitPerSecond ?? null,
    startsAt: spec.startsAt ? new Date(spec.startsAt).toISOString() : null,
    endsAt: spec.endsAt ? new Date(spec.endsAt).toISOString() : null,
  };
}

const sameTime = (a: string | null, b: string | null) => (a === null || b === null ? a === b : Date.parse(a) === Date.parse(b));
const msOf = (t: string | null) => (t ? Date.parse(t) : null);

export function sameSettings(p: ProductRow, w: WantedSettings): boolean {
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
    r.endsAtMs === msOf(w.endsAt)
  );
}

/** The limits and window in Redis's terms (epoch ms). */
export function redisSettings(w: WantedSettings) {
  return { perUserLimit: w.perUserLimit, rateLimitPerSecond: w.rateLimitPerSecond, startsAtMs: msOf(w.startsAt), endsAtMs: msOf(w.endsAt) };
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

// A seeded sale that needs no recovery, and the first seed of a sale that never sold: keep Redis in
// line with the spec and PostgreSQL (gate, settings, raised allocation) without touching the stock.
import type { SaleStep } from './context.js';
import { finish } from './outcome.js';
import { redisSettings, sameRedisSettings, seedAction } from './sale-settings.js';
import type { Decision } from './types.js';

export function firstSeedStep(st: SaleStep): Decision {
  const { o, actions, product } = st;
  const spec = o.sale.spec;
  actions.push(seedAction({ productId: spec.productId, product, wanted: st.wanted, gate: spec.paused ? 'paused' : 'open', minEpoch: st.nextEpoch, expectEpoch: st.r.epoch ?? 0 }));
  actions.push({ kind: 'event', type: 'Normal', reason: 'Seeded', message: `seeded ${product.stock} units into Redis at epoch ${st.nextEpoch}` });
  return finish(st, { stock: product.stock, epoch: st.nextEpoch, consistentAfterSeed: true });
}

export function steadyStateStep(st: SaleStep): Decision {
  const { o, prev, actions, product, r } = st;
  const spec = o.sale.spec;
  let redisStock = r.stock;
  if (r.initialStock !== null && r.initialStock < product.initialStock) {
    actions.push({ kind: 'raiseStockInRedis', productId: spec.productId, from: r.initialStock, to: product.initialStock });
    redisStock = (redisStock ?? 0) + product.initialStock - r.initialStock;
  }
  if (spec.paused && r.gate !== 'paused') {
    actions.push({ kind: 'closeGate', productId: spec.productId, state: 'paused' });
    actions.push({ kind: 'event', type: 'Normal', reason: 'Paused', message: 'spec.paused is true: gate closed, orders get 503' });
  } else if (!spec.paused && r.gate === 'paused') {
    actions.push({ kind: 'openGate', productId: spec.productId });
    actions.push({ kind: 'event', type: 'Normal', reason: 'Resumed', message: 'spec.paused is false: gate open' });
  }
  if (!sameRedisSettings(r, st.wanted)) actions.push({ kind: 'configureRedis', productId: spec.productId, ...redisSettings(st.wanted) });
  return finish(st, { stock: redisStock, epoch: r.epoch ?? prev.redis?.epoch ?? 0 });
}

// The product row in PostgreSQL (the truth): created with the allocation, kept in line with the
// spec's settings, and raised when spec.stock grows. Lowering goes through the recovery protocol.
import type { Step } from './context.js';
import { productSettings, sameSettings } from './sale-settings.js';
import type { Decision, ProductRow } from './types.js';

/** The product when the reconcile may go on to Redis; otherwise the decision to return now. */
export function productStep(st: Step): { product: ProductRow } | { decision: Decision } {
  const { o, s, prev, actions } = st;
  const spec = o.sale.spec;
  if (!o.postgres.ok) {
    st.cond('Ready', 'False', 'PostgresUnavailable', `cannot read the product from PostgreSQL: ${o.postgres.error}`);
    return { decision: { actions, status: st.status({ message: 'PostgreSQL unavailable' }), requeueAfterMs: s.retryMs } };
  }
  const product = o.postgres.value;
  const wanted = productSettings(spec);
  if (!product) {
    actions.push({ kind: 'ensureProduct', productId: spec.productId, allocation: spec.stock, ...wanted });
    actions.push({ kind: 'event', type: 'Normal', reason: 'ProductCreated', message: `created product ${spec.productId} with ${spec.stock} units in PostgreSQL` });
    return { decision: { actions, status: st.status({ phase: prev.phase ?? 'Pending', message: 'creating the product row' }), requeueAfterMs: 0 } };
  }
  if (!sameSettings(product, wanted)) actions.push({ kind: 'ensureProduct', productId: spec.productId, allocation: spec.stock, ...wanted });
  if (spec.stock > product.initialStock) {
    actions.push({ kind: 'raiseStockInPostgres', productId: spec.productId, from: product.initialStock, to: spec.stock });
    actions.push({
      kind: 'event', type: 'Normal', reason: 'Restocked',
      message: `allocation raised from ${product.initialStock} to ${spec.stock}: ${spec.stock - product.initialStock} units added`,
    });
    return { decision: { actions, status: st.status({}), requeueAfterMs: 0 } };
  }
  return { product };
}

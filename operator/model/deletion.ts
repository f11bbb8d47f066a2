// Deletion and product claims: a deleted sale removes its Redis keys then lets go; a sale whose
// product another FlashSale already sells touches nothing. PostgreSQL data always stays.
import { getCondition } from './conditions.js';
import type { Step } from './context.js';
import { FINALIZER, type Decision } from './types.js';

/** The decision when the sale is being deleted or its product is claimed; undefined otherwise. */
export function deletionOrClaim(st: Step): Decision | undefined {
  const { o, s, prev, actions } = st;
  const sale = o.sale;
  const spec = sale.spec;
  const hasFinalizer = sale.metadata.finalizers?.includes(FINALIZER) ?? false;

  // Another FlashSale already sells this product: touch nothing (not even on delete).
  if (o.productClaimedBy) {
    if (sale.metadata.deletionTimestamp) return { actions: hasFinalizer ? [{ kind: 'removeFinalizer' }] : [], status: prev };
    const msg = `productId ${spec.productId} is already sold by FlashSale ${o.productClaimedBy}; this one is ignored`;
    if (getCondition(prev.conditions, 'Ready')?.reason !== 'ProductClaimed')
      actions.push({ kind: 'event', type: 'Warning', reason: 'ProductClaimed', message: msg });
    st.cond('Ready', 'False', 'ProductClaimed', msg);
    return { actions, status: st.status({ phase: 'Pending', message: msg }) };
  }

  if (sale.metadata.deletionTimestamp) {
    if (!hasFinalizer) return { actions: [], status: prev };
    if (!o.redis.ok) return { actions: [], status: prev, requeueAfterMs: s.retryMs };
    return {
      actions: [
        { kind: 'deleteRedisKeys', productId: spec.productId },
        { kind: 'event', type: 'Normal', reason: 'RedisKeysDeleted', message: `removed the Redis keys of ${spec.productId}; PostgreSQL keeps its data` },
        { kind: 'removeFinalizer' },
      ],
      status: prev,
    };
  }
  if (!hasFinalizer) actions.push({ kind: 'addFinalizer' });
  return undefined;
}

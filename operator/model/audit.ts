// The audit: once no order is in flight (lag 0), Redis must hold exactly what PostgreSQL says is
// left. A mismatch is believed only after two agreeing reads, then repaired by a recovery.
import { getCondition } from './conditions.js';
import type { SaleStep } from './context.js';

/** Records the Consistent condition; true when a mismatch is confirmed and must be repaired. */
export function audit(st: SaleStep): boolean {
  const { o, s, prev, actions, product, r } = st;
  const quiet = o.lag.ok && o.lag.value.total === 0;
  const inRecovery = prev.phase === 'Recovering';
  if (!inRecovery && quiet && r.stock !== null && r.initialStock === product.initialStock && r.epoch === prev.redis?.epoch) {
    if (r.stock === product.stock) {
      st.cond('Consistent', 'True', 'InSync', `Redis and PostgreSQL both hold ${r.stock} units, no order in flight`);
      if (o.auditPending) actions.push({ kind: 'auditPending', value: undefined });
      return false;
    }
    // A mismatch is believed only when a second read, a while later and still at lag 0, shows
    // the same two numbers: an order reserved in Redis but not yet produced looks the same for
    // a few milliseconds. Then it is reported and repaired (through the recovery protocol).
    const p = o.auditPending;
    if (p && p.redis === r.stock && p.postgres === product.stock && o.now.getTime() - p.sinceMs >= s.auditConfirmMs) {
      const msg = `Redis holds ${r.stock} units but PostgreSQL ${product.stock}, with no order in flight (two reads ${Math.round((o.now.getTime() - p.sinceMs) / 1000)} s apart)`;
      if (getCondition(prev.conditions, 'Consistent')?.status !== 'False')
        actions.push({ kind: 'event', type: 'Warning', reason: 'Inconsistent', message: `${msg}; reseeding Redis from PostgreSQL` });
      st.cond('Consistent', 'False', 'StockMismatch', msg);
      return true;
    }
    if (!p || p.redis !== r.stock || p.postgres !== product.stock) {
      actions.push({ kind: 'auditPending', value: { redis: r.stock, postgres: product.stock, sinceMs: o.now.getTime() } });
    }
    return false;
  }
  if (!getCondition(st.conditions(), 'Consistent')) {
    st.cond('Consistent', 'Unknown', 'NotAudited', 'the audit runs when the orders topic is drained (lag 0)');
  }
  return false;
}

// decide(observed): the whole reconcile policy as one pure function. It returns the actions that
// move the world one step toward the spec, and the status that describes the world as observed.
// Level-triggered: it never asks "what happened", only "what is, and what should be".
// The steps, in order: deletion/claim, the product in PostgreSQL, Redis (recovery, first seed or
// steady state); each lives in its own file.
import { audit } from './audit.js';
import { getCondition } from './conditions.js';
import { newStep, type SaleStep } from './context.js';
import { deletionOrClaim } from './deletion.js';
import { PHASE_TEXT, metricsConditions } from './outcome.js';
import { productStep } from './product.js';
import { RECOVERY_TEXT, recoveryStep, redisNeed } from './recovery.js';
import { admissionProblem, wantedSettings } from './sale-settings.js';
import { firstSeedStep, steadyStateStep } from './steady-state.js';
import type { Decision, Observed, Settings } from './types.js';

export { phaseOf } from './outcome.js';

export function decide(o: Observed, s: Settings): Decision {
  const st = newStep(o, s);
  const ended = deletionOrClaim(st);
  if (ended) return ended;
  metricsConditions(st);
  const invalid = admissionProblem(o.sale.spec);
  if (invalid) {
    st.cond('Ready', 'False', 'InvalidAdmission', invalid);
    return { actions: st.actions, status: st.status({ message: invalid }) };
  }

  const p = productStep(st);
  if ('decision' in p) return p.decision;
  const { product } = p;

  if (!o.redis.ok) {
    st.cond('Ready', 'False', 'RedisUnavailable', `cannot reach Redis: ${o.redis.error}`);
    st.cond('StockSeeded', 'Unknown', 'RedisUnavailable', `cannot reach Redis: ${o.redis.error}`);
    return { actions: st.actions, status: st.status({ message: 'Redis unavailable' }), requeueAfterMs: s.retryMs };
  }
  const { runId, sale: r } = o.redis.value;
  const spec = o.sale.spec;
  const soldWithInFlight = product.initialStock - Math.min(product.stock, r.stock ?? product.stock);
  const lowering = spec.stock < product.initialStock;
  const ss: SaleStep = {
    ...st,
    product,
    runId,
    r,
    wanted: wantedSettings(spec),
    lowering,
    loweringRefused: lowering && spec.stock < soldWithInFlight,
    nextEpoch: Math.max(r.epoch ?? 0, st.prev.redis?.epoch ?? 0) + 1,
  };

  const auditConfirmed = audit(ss);
  const need = redisNeed(ss, auditConfirmed);
  if (ss.loweringRefused) {
    const msg = `spec.stock ${spec.stock} is below the ${soldWithInFlight} units already sold; keeping the allocation of ${product.initialStock}`;
    if (getCondition(st.prev.conditions, 'Ready')?.reason !== 'StockBelowSold')
      st.actions.push({ kind: 'event', type: 'Warning', reason: 'StockBelowSold', message: msg });
  }
  if (need.kind === 'recovery') return recoveryStep(ss, need.reason);
  if (need.kind === 'firstSeed') return firstSeedStep(ss);
  if (need.kind === 'awaitFreshLag') {
    const message = 'waiting for a consumer-lag reading taken after the sale was created (orders of an earlier sale of this product may still be in the topic)';
    return { actions: st.actions, status: st.status({ phase: st.prev.phase ?? 'Pending', message }), requeueAfterMs: s.lagPollMs };
  }
  return steadyStateStep(ss);
}

export const _forTests = { PHASE_TEXT, RECOVERY_TEXT };

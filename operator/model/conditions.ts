// metav1.Condition bookkeeping: a map keyed by type; lastTransitionTime moves only with status.
import type { Condition, ConditionStatus, ConditionType } from './types.js';

export const CONDITION_ORDER: ConditionType[] = ['Ready', 'StockSeeded', 'WorkersScaled', 'Consistent', 'MetricsAvailable'];

export interface ConditionInput {
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function setCondition(
  previous: Condition[] | undefined,
  type: ConditionType,
  next: ConditionInput,
  now: Date,
  generation: number | undefined,
): Condition[] {
  const list = (previous ?? []).filter((c) => c.type !== type);
  const old = previous?.find((c) => c.type === type);
  const lastTransitionTime = old && old.status === next.status ? old.lastTransitionTime : rfc3339(now);
  const c: Condition = { type, status: next.status, reason: next.reason, message: next.message.slice(0, 32768), lastTransitionTime };
  if (generation !== undefined) c.observedGeneration = generation;
  list.push(c);
  return sortConditions(list);
}

export function getCondition(list: Condition[] | undefined, type: ConditionType): Condition | undefined {
  return list?.find((c) => c.type === type);
}

function sortConditions(list: Condition[]): Condition[] {
  const rank = (t: string) => {
    const i = CONDITION_ORDER.indexOf(t as ConditionType);
    return i < 0 ? CONDITION_ORDER.length : i;
  };
  return [...list].sort((a, b) => rank(a.type) - rank(b.type));
}

/** Kubernetes times: RFC 3339 with second precision (what metav1.Time serializes to). */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

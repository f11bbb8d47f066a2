// One reconcile's working state, shared by the decision steps (deletion, product, recovery,
// steady state): the observation, the actions chosen so far and the conditions being rewritten.
import { setCondition } from './conditions.js';
import type { WantedSettings } from './sale-settings.js';
import type { Action, ConditionStatus, ConditionType, FlashSaleStatus, Observed, ProductRow, RedisSale, Settings } from './types.js';

export interface Step {
  readonly o: Observed;
  readonly s: Settings;
  /** The status as last written (never mutated). */
  readonly prev: FlashSaleStatus;
  readonly actions: Action[];
  cond(type: ConditionType, status: ConditionStatus, reason: string, message: string): void;
  conditions(): FlashSaleStatus['conditions'];
  /** The previous status with these fields replaced, the generation observed and the conditions so far. */
  status(extra: FlashSaleStatus): FlashSaleStatus;
}

export function newStep(o: Observed, s: Settings): Step {
  const prev = o.sale.status ?? {};
  const gen = o.sale.metadata.generation;
  let conditions = prev.conditions;
  return {
    o,
    s,
    prev,
    actions: [],
    cond: (type, status, reason, message) => {
      conditions = setCondition(conditions, type, { status, reason, message }, o.now, gen);
    },
    conditions: () => conditions,
    status: (extra) => ({ ...prev, observedGeneration: gen, ...extra, conditions }),
  };
}

/** A step once PostgreSQL's product row and Redis's sale are both known. */
export interface SaleStep extends Step {
  readonly product: ProductRow;
  readonly runId: string;
  readonly r: RedisSale;
  readonly wanted: WantedSettings;
  /** spec.stock below the allocation in PostgreSQL. */
  readonly lowering: boolean;
  /** Lowering below what is already sold (in flight included): refused. */
  readonly loweringRefused: boolean;
  /** Above every epoch Redis or the status ever held. */
  readonly nextEpoch: number;
}

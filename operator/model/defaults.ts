// The CRD's defaults, applied again in the operator: a FlashSale stored before a default existed
// (or written by a client that bypassed the schema) must not turn into NaN replicas.
import type { WorkersSpec } from './lag-scaler.js';
import type { FlashSale } from './types.js';

export const WORKERS_DEFAULTS: Omit<WorkersSpec, 'deployment'> = {
  minReplicas: 1,
  maxReplicas: 10,
  lagPerReplica: 100,
  activationLag: 0,
  scaleDownStabilizationSeconds: 60,
};

export function withDefaults(sale: FlashSale): FlashSale {
  const spec = sale.spec;
  return {
    ...sale,
    spec: {
      ...spec,
      paused: spec.paused ?? false,
      limits: { perUser: 1, ...spec.limits },
      ...(spec.workers ? { workers: { ...WORKERS_DEFAULTS, ...spec.workers } } : {}),
    },
  };
}

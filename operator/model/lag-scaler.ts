// Pure worker-scaling rules (no I/O). KEDA semantics, minus the surprises its users report:
//  - desired = ceil(lag / lagPerReplica), exactly, no tolerance band, so there is no dead zone
//    below the cap: lag at or past the cap gives exactly the cap;
//  - never more replicas than partitions WITH lag (KEDA's limitToPartitionsWithLag: orders of one
//    product share one partition, so a single hot sale is consumed by one worker however large
//    its lag; a second replica would sit idle), and the status says which bound is binding
//    (partitionsWithLag, partitions or maxReplicas), so nobody has to guess;
//  - a failed lag read is never read as 0: the last good value is kept, scale-down is frozen;
//  - scale up at once; scale down only after the desired count stayed below the current one for
//    a whole stabilization window, and then one replica per window (each step is a rebalance).

export interface WorkersSpec {
  deployment: string;
  minReplicas: number;
  maxReplicas: number;
  lagPerReplica: number;
  activationLag: number;
  scaleDownStabilizationSeconds: number;
}

export interface LagSnapshot {
  /** Sum of the per-partition lags of the orders topic for the worker group. */
  totalLag: number;
  partitions: number;
  partitionsWithLag: number;
}

/** Which rule produced the count: the lag itself, or the bound that clipped it. */
export type Binding = 'lag' | 'activation' | 'minReplicas' | 'maxReplicas' | 'partitions' | 'partitionsWithLag';

export interface Recommendation {
  replicas: number;
  binding: Binding;
}

/**
 * One sale's recommendation for its Deployment, from the lag. A sale in recovery waits for the
 * workers to drain the topic: any lag then activates a worker, whatever activationLag says, or
 * the recovery would wait forever for a drain no worker does.
 */
export function recommend(spec: WorkersSpec, lag: LagSnapshot, sale: { recovering?: boolean } = {}): Recommendation {
  const partitions = Math.max(1, lag.partitions);
  // Lag somewhere means at least one lagging partition, whatever a racy reading says.
  const lagging = Math.min(partitions, lag.totalLag > 0 ? Math.max(1, lag.partitionsWithLag) : lag.partitionsWithLag);
  // Activation matters only for scale-to-zero, as in KEDA: with minReplicas >= 1 it is moot.
  const drainNeeded = sale.recovering === true && lag.totalLag > 0;
  if (spec.minReplicas === 0 && lag.totalLag <= spec.activationLag && !drainNeeded) return { replicas: 0, binding: 'activation' };
  const raw = Math.ceil(lag.totalLag / spec.lagPerReplica);
  // minReplicas is a floor (warm workers), clipped only by the partitions: past them a replica never gets one.
  const floor = Math.min(spec.minReplicas, partitions);
  const floorRec: Recommendation = { replicas: floor, binding: spec.minReplicas > partitions ? 'partitions' : 'minReplicas' };
  const upper = Math.min(spec.maxReplicas, lagging);
  const upperBinding: Binding = spec.maxReplicas <= lagging ? 'maxReplicas' : lagging === partitions ? 'partitions' : 'partitionsWithLag';
  const capped: Recommendation = raw > upper ? { replicas: upper, binding: upperBinding } : { replicas: raw, binding: 'lag' };
  return capped.replicas < floor ? floorRec : capped;
}

/** Several sales may name one Deployment: it gets the largest of their recommendations. */
export function combine(recs: Recommendation[]): Recommendation | undefined {
  let best: Recommendation | undefined;
  for (const r of recs) if (!best || r.replicas > best.replicas) best = r;
  return best;
}

/** What the scaler remembers per Deployment between polls (in memory; lost on restart, which only delays a scale-down). */
export interface ScalerMemory {
  /** Since when the recommendation has been continuously below the current replicas (ms). */
  belowSince?: number;
  /** When the operator last changed the replicas (ms). */
  lastChangeAt?: number;
}

export type Hold = 'stabilization' | 'metricsUnavailable' | 'noMetrics';

export interface ScaleDecision {
  /** Replicas to set; equal to `current` when nothing changes. */
  replicas: number;
  current: number;
  recommendation?: Recommendation;
  /** Why `replicas` differs from the recommendation, when it does. */
  hold?: Hold;
  memory: ScalerMemory;
  /** Seconds until a pending scale-down may happen (for the requeue), when one is pending. */
  retryInSeconds?: number;
}

export interface ScaleInput {
  nowMs: number;
  current: number;
  /** The combined recommendation; absent when no lag value was ever read. */
  recommendation?: Recommendation;
  /** False when the latest lag read failed and `recommendation` comes from the last good value. */
  metricsFresh: boolean;
  stabilizationSeconds: number;
  memory: ScalerMemory;
}

export function decideScale(input: ScaleInput): ScaleDecision {
  const { nowMs, current, recommendation: rec, memory } = input;
  if (!rec) return { replicas: current, current, hold: 'noMetrics', memory: { ...memory, belowSince: undefined } };
  if (rec.replicas > current) {
    // Up at once, even on a stale (last good) value: it can only be lower than the truth while lag grows.
    return { replicas: rec.replicas, current, recommendation: rec, memory: { belowSince: undefined, lastChangeAt: nowMs } };
  }
  if (rec.replicas === current) return { replicas: current, current, recommendation: rec, memory: { ...memory, belowSince: undefined } };
  if (!input.metricsFresh) {
    return { replicas: current, current, recommendation: rec, hold: 'metricsUnavailable', memory: { ...memory, belowSince: undefined } };
  }
  const windowMs = input.stabilizationSeconds * 1000;
  const belowSince = memory.belowSince ?? nowMs;
  const readyAt = Math.max(belowSince + windowMs, (memory.lastChangeAt ?? -Infinity) + windowMs);
  if (nowMs >= readyAt) {
    // One step, then a new window for the next one.
    return { replicas: current - 1, current, recommendation: rec, memory: { belowSince: nowMs, lastChangeAt: nowMs } };
  }
  return {
    replicas: current,
    current,
    recommendation: rec,
    hold: 'stabilization',
    memory: { ...memory, belowSince },
    retryInSeconds: Math.ceil((readyAt - nowMs) / 1000),
  };
}

// The status the operator writes must pass the CRD's own schema: every phase and every "cap"
// value the code can produce is in the CRD's enums (a value missing there makes the apiserver
// refuse the whole status write with a 422).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const crd = parse(readFileSync(new URL('../../crds/flashsale.yaml', import.meta.url), 'utf8'));
const status = crd.spec.versions[0].schema.openAPIV3Schema.properties.status.properties;

describe('CRD status schema vs the operator', () => {
  it('lists every phase', () => {
    expect(status.phase.enum).toEqual(['Pending', 'Active', 'Recovering', 'SoldOut', 'Ended', 'Paused']);
  });
  it('lists every cap value (Binding and Hold of the lag scaler)', () => {
    const produced = ['lag', 'activation', 'minReplicas', 'maxReplicas', 'partitions', 'partitionsWithLag', 'stabilization', 'metricsUnavailable', 'noMetrics'];
    expect([...status.workers.properties.cap.enum].sort()).toEqual([...produced].sort());
  });
  it('has a field for every status.stock, workers, redis and recovery figure the operator writes', () => {
    expect(Object.keys(status.stock.properties).sort()).toEqual(['allocated', 'postgres', 'redis', 'remaining', 'sold']);
    expect(Object.keys(status.workers.properties).sort()).toEqual(['cap', 'deployment', 'desired', 'lag', 'lastScaleTime', 'partition', 'partitions', 'partitionsWithLag', 'replicas']);
    expect(Object.keys(status.redis.properties).sort()).toEqual(['epoch', 'runId']);
    expect(Object.keys(status.recovery.properties).sort()).toEqual(['barrier', 'count', 'finishedAt', 'lastDurationSeconds', 'reason', 'startedAt']);
  });
});

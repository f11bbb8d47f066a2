import { describe, expect, it } from 'vitest';
import { combine, decideScale, recommend, type ScaleInput, type WorkersSpec } from './lag-scaler.js';

const spec = (o: Partial<WorkersSpec> = {}): WorkersSpec => ({
  deployment: 'w',
  minReplicas: 1,
  maxReplicas: 10,
  lagPerReplica: 100,
  activationLag: 0,
  scaleDownStabilizationSeconds: 60,
  ...o,
});

describe('recommend during a recovery (defect 11: no deadlock at minReplicas 0)', () => {
  const rows: Array<[string, boolean, number, number, string]> = [
    // name, recovering, totalLag, replicas, binding
    ['recovering with lag below activation: one worker drains', true, 10, 1, 'lag'],
    ['recovering, nothing left to drain: zero', true, 0, 0, 'activation'],
    ['not recovering, lag below activation: zero', false, 10, 0, 'activation'],
  ];
  it.each(rows)('%s', (_n, recovering, totalLag, replicas, binding) => {
    expect(recommend(spec({ minReplicas: 0, activationLag: 50 }), { totalLag, partitions: 6, partitionsWithLag: 1 }, { recovering })).toEqual({ replicas, binding });
  });
});

describe('recommend', () => {
  const cases: Array<[string, Partial<WorkersSpec>, number, number, number, string]> = [
    // name, spec, totalLag, partitions, replicas, binding
    ['no lag keeps minReplicas', {}, 0, 6, 1, 'minReplicas'],
    ['exact multiple', {}, 300, 6, 3, 'lag'],
    ['one over a multiple rounds up', {}, 301, 6, 4, 'lag'],
    ['one message needs one replica', { minReplicas: 0 }, 1, 6, 1, 'lag'],
    ['capped by partitions below maxReplicas', {}, 5000, 6, 6, 'partitions'],
    ['capped by maxReplicas below partitions', { maxReplicas: 4 }, 5000, 6, 4, 'maxReplicas'],
    ['no dead zone: lag one below the cap still reaches the cap', {}, 501, 6, 6, 'lag'],
    ['lag exactly at the cap gives the cap', {}, 600, 6, 6, 'lag'],
    ['partitions equal to maxReplicas reports maxReplicas', { maxReplicas: 6 }, 9999, 6, 6, 'maxReplicas'],
    ['scale to zero when lag is at the activation threshold', { minReplicas: 0, activationLag: 50 }, 50, 6, 0, 'activation'],
    ['activation passed: lag 51 over 50', { minReplicas: 0, activationLag: 50 }, 51, 6, 1, 'lag'],
    ['activation ignored when minReplicas >= 1', { minReplicas: 1, activationLag: 50 }, 10, 6, 1, 'lag'],
    ['minReplicas above partitions is clipped to partitions', { minReplicas: 8 }, 0, 6, 6, 'partitions'],
    ['minReplicas honoured above the lag', { minReplicas: 3 }, 150, 6, 3, 'minReplicas'],
    ['single partition topic never gets a second replica', {}, 10_000, 1, 1, 'partitions'],
    ['zero partitions reported is treated as one', {}, 10, 0, 1, 'lag'],
    ['lagPerReplica 1: one replica per message', { lagPerReplica: 1 }, 5, 12, 5, 'lag'],
  ];
  it.each(cases)('%s', (_name, s, totalLag, partitions, replicas, binding) => {
    // every partition carries some of the lag here, so only the partition count can bind
    expect(recommend(spec(s), { totalLag, partitions, partitionsWithLag: partitions })).toEqual({ replicas, binding });
  });
});

describe('recommend: capped by the partitions that have lag (KEDA limitToPartitionsWithLag)', () => {
  const cases: Array<[string, Partial<WorkersSpec>, number, number, number, number, string]> = [
    // name, spec, totalLag, partitions, partitionsWithLag, replicas, binding
    ['one hot partition: one consumer, however large its lag', {}, 5000, 6, 1, 1, 'partitionsWithLag'],
    ['two hot partitions of six: two consumers', {}, 5000, 6, 2, 2, 'partitionsWithLag'],
    ['lag spread over all partitions: the partition count binds', {}, 5000, 6, 6, 6, 'partitions'],
    ['maxReplicas below the lagging partitions binds first', { maxReplicas: 2 }, 5000, 6, 3, 2, 'maxReplicas'],
    ['the lag itself below the lagging partitions', {}, 150, 6, 4, 2, 'lag'],
    ['minReplicas is a floor above the lagging partitions', { minReplicas: 3 }, 5000, 6, 1, 3, 'minReplicas'],
    ['minReplicas above the partitions is still clipped to them', { minReplicas: 8 }, 5000, 6, 1, 6, 'partitions'],
    ['scale from zero on one lagging partition', { minReplicas: 0 }, 10, 6, 1, 1, 'lag'],
    ['no partition with lag: minReplicas', {}, 0, 6, 0, 1, 'minReplicas'],
  ];
  it.each(cases)('%s', (_name, s, totalLag, partitions, partitionsWithLag, replicas, binding) => {
    expect(recommend(spec(s), { totalLag, partitions, partitionsWithLag })).toEqual({ replicas, binding });
  });
});

describe('combine: one desired count per Deployment', () => {
  it('takes the largest recommendation of the sales naming it', () => {
    expect(
      combine([
        { replicas: 2, binding: 'lag' },
        { replicas: 5, binding: 'maxReplicas' },
        { replicas: 1, binding: 'minReplicas' },
      ]),
    ).toEqual({ replicas: 5, binding: 'maxReplicas' });
  });
  it('is undefined for no sales', () => expect(combine([])).toBeUndefined());
});

describe('decideScale', () => {
  const base = (o: Partial<ScaleInput>): ScaleInput => ({
    nowMs: 1_000_000,
    current: 3,
    recommendation: { replicas: 3, binding: 'lag' },
    metricsFresh: true,
    stabilizationSeconds: 60,
    memory: {},
    ...o,
  });

  it('scales up at once, however far', () => {
    const d = decideScale(base({ recommendation: { replicas: 6, binding: 'partitions' } }));
    expect(d.replicas).toBe(6);
    expect(d.memory).toEqual({ belowSince: undefined, lastChangeAt: 1_000_000 });
  });

  it('scales up on the last good value even when the latest read failed', () => {
    const d = decideScale(base({ recommendation: { replicas: 5, binding: 'lag' }, metricsFresh: false }));
    expect(d.replicas).toBe(5);
  });

  it('holds when the recommendation equals the current count and forgets a pending scale-down', () => {
    const d = decideScale(base({ memory: { belowSince: 1, lastChangeAt: 2 } }));
    expect(d).toMatchObject({ replicas: 3, memory: { belowSince: undefined, lastChangeAt: 2 } });
    expect(d.hold).toBeUndefined();
  });

  it('starts the stabilization window on the first lower recommendation', () => {
    const d = decideScale(base({ recommendation: { replicas: 1, binding: 'minReplicas' } }));
    expect(d).toMatchObject({ replicas: 3, hold: 'stabilization', memory: { belowSince: 1_000_000 }, retryInSeconds: 60 });
  });

  it('waits the whole window', () => {
    const d = decideScale(
      base({ nowMs: 1_059_999, recommendation: { replicas: 1, binding: 'minReplicas' }, memory: { belowSince: 1_000_000 } }),
    );
    expect(d).toMatchObject({ replicas: 3, hold: 'stabilization', retryInSeconds: 1 });
  });

  it('steps down by one after the window, not straight to the recommendation', () => {
    const d = decideScale(
      base({ nowMs: 1_060_000, recommendation: { replicas: 1, binding: 'minReplicas' }, memory: { belowSince: 1_000_000 } }),
    );
    expect(d).toMatchObject({ replicas: 2, memory: { belowSince: 1_060_000, lastChangeAt: 1_060_000 } });
  });

  it('the next step needs another full window', () => {
    const d = decideScale(
      base({
        current: 2,
        nowMs: 1_090_000,
        recommendation: { replicas: 1, binding: 'minReplicas' },
        memory: { belowSince: 1_060_000, lastChangeAt: 1_060_000 },
      }),
    );
    expect(d).toMatchObject({ replicas: 2, hold: 'stabilization', retryInSeconds: 30 });
  });

  it('a recent scale-up delays the scale-down even if the recommendation dropped long ago', () => {
    const d = decideScale(
      base({
        nowMs: 1_100_000,
        recommendation: { replicas: 1, binding: 'minReplicas' },
        memory: { belowSince: 900_000, lastChangeAt: 1_080_000 },
      }),
    );
    expect(d).toMatchObject({ replicas: 3, hold: 'stabilization', retryInSeconds: 40 });
  });

  it('a window of 0 steps down one per poll', () => {
    const d = decideScale(base({ stabilizationSeconds: 0, recommendation: { replicas: 0, binding: 'activation' } }));
    expect(d.replicas).toBe(2);
  });

  it('never scales down on stale metrics and restarts the window', () => {
    const d = decideScale(
      base({
        nowMs: 2_000_000,
        recommendation: { replicas: 1, binding: 'minReplicas' },
        metricsFresh: false,
        memory: { belowSince: 1_000_000 },
      }),
    );
    expect(d).toMatchObject({ replicas: 3, hold: 'metricsUnavailable', memory: { belowSince: undefined } });
  });

  it('never acts without any lag value ever read', () => {
    const d = decideScale(base({ recommendation: undefined, metricsFresh: false }));
    expect(d).toMatchObject({ replicas: 3, hold: 'noMetrics' });
  });

  it('scales a Deployment at 0 up to 1 on the first message above activation', () => {
    const d = decideScale(base({ current: 0, recommendation: { replicas: 1, binding: 'lag' } }));
    expect(d.replicas).toBe(1);
  });

  it('a lag spike during the window resets it', () => {
    const spike = decideScale(
      base({ nowMs: 1_030_000, recommendation: { replicas: 3, binding: 'lag' }, memory: { belowSince: 1_000_000 } }),
    );
    expect(spike.memory.belowSince).toBeUndefined();
    const after = decideScale(
      base({ nowMs: 1_070_000, recommendation: { replicas: 1, binding: 'minReplicas' }, memory: spike.memory }),
    );
    expect(after).toMatchObject({ replicas: 3, hold: 'stabilization', memory: { belowSince: 1_070_000 } });
  });
});

import { describe, expect, it } from 'vitest';
import { computeLag } from './lag.js';

const offs = (...p: Array<[number, number, number]>) => p.map(([partition, low, high]) => ({ partition, low: String(low), high: String(high) }));

describe('computeLag', () => {
  it('is log end minus committed offset per partition, summed', () => {
    const r = computeLag('orders', offs([0, 0, 100], [1, 0, 50]), [
      { partition: 0, offset: '40' },
      { partition: 1, offset: '50' },
    ]);
    expect(r).toEqual({
      topic: 'orders',
      partitions: [
        { partition: 0, lag: 60, noCommittedOffset: false },
        { partition: 1, lag: 0, noCommittedOffset: false },
      ],
      total: 60,
    });
  });

  it('counts every retained message when the group never committed (-1 or missing)', () => {
    const r = computeLag('orders', offs([0, 10, 30], [1, 0, 7]), [{ partition: 0, offset: '-1' }]);
    expect(r.partitions).toEqual([
      { partition: 0, lag: 20, noCommittedOffset: true },
      { partition: 1, lag: 7, noCommittedOffset: true },
    ]);
    expect(r.total).toBe(27);
  });

  it('an empty partition without commits has no lag', () => {
    expect(computeLag('t', offs([0, 0, 0]), [{ partition: 0, offset: '-1' }]).total).toBe(0);
  });

  it('a committed offset below the log start counts from the log start', () => {
    expect(computeLag('t', offs([0, 500, 800]), [{ partition: 0, offset: '100' }]).partitions[0]!.lag).toBe(300);
  });

  it('never goes negative (committed beyond the log end after a topic was recreated)', () => {
    expect(computeLag('t', offs([0, 0, 5]), [{ partition: 0, offset: '9' }]).partitions[0]!.lag).toBe(0);
  });

  it('ignores committed offsets of partitions the topic does not have, and sorts by partition', () => {
    const r = computeLag('t', offs([2, 0, 3], [0, 0, 1]), [{ partition: 7, offset: '4' }]);
    expect(r.partitions.map((p) => p.partition)).toEqual([0, 2]);
    expect(r.total).toBe(4);
  });

  it('handles offsets beyond 2^53 exactly', () => {
    const r = computeLag('t', [{ partition: 0, low: '0', high: '9007199254740993' }], [{ partition: 0, offset: '9007199254740990' }]);
    expect(r.total).toBe(3);
  });
});

import { describe, expect, it } from 'vitest';
import { leaseStep, type LeaseRecord } from './leader.js';

const rec = (o: Partial<LeaseRecord> = {}): LeaseRecord => ({ holder: 'b', renewTime: 't1', leaseDurationSeconds: 15, transitions: 0, ...o });

describe('leaseStep', () => {
  const cases: Array<[string, LeaseRecord, { key: string; atMs: number } | undefined, number, string]> = [
    ['our own lease is renewed', rec({ holder: 'a' }), undefined, 0, 'renew'],
    ['a released lease (no holder) is taken at once', rec({ holder: undefined }), undefined, 0, 'acquire'],
    ['a fresh lease of another holder is left alone', rec(), { key: 'b|t1', atMs: 0 }, 14_999, 'wait'],
    ['it expires after a whole duration unchanged, on our clock', rec(), { key: 'b|t1', atMs: 0 }, 15_000, 'acquire'],
    ['a renewal we have not seen before resets the clock', rec({ renewTime: 't2' }), { key: 'b|t1', atMs: 0 }, 60_000, 'wait'],
    ['never seen before: wait a duration first', rec(), undefined, 1e12, 'wait'],
    ['the lease own duration wins over ours', rec({ leaseDurationSeconds: 1 }), { key: 'b|t1', atMs: 0 }, 1_000, 'acquire'],
  ];
  it.each(cases)('%s', (_n, record, observed, now, step) => {
    expect(leaseStep(record, 'a', observed, now, 15_000)).toBe(step);
  });
});

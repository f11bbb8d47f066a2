import { describe, expect, it } from 'vitest';
import { computeLag } from '../../core/kafka/lag.js';
import { remainingBeforeBarrier, type LagReading } from './lag-reader.js';

function reading(parts: Array<{ p: number; low: string; high: string; committed?: string }>): LagReading {
  const lag = computeLag('orders', parts.map((x) => ({ partition: x.p, low: x.low, high: x.high })), parts.filter((x) => x.committed !== undefined).map((x) => ({ partition: x.p, offset: x.committed! })));
  return {
    lag, partitions: parts.length, partitionsWithLag: lag.partitions.filter((x) => x.lag > 0).length,
    high: new Map(parts.map((x) => [x.p, BigInt(x.high)])),
    low: new Map(parts.map((x) => [x.p, x.low])),
    committed: new Map(parts.filter((x) => x.committed !== undefined).map((x) => [x.p, x.committed!])),
  };
}

describe('remainingBeforeBarrier', () => {
  const barrier = new Map<number, bigint>([[0, 100n], [1, 50n]]);
  it('counts what the group still has to process below the barrier', () => {
    expect(remainingBeforeBarrier(reading([{ p: 0, low: '0', high: '300', committed: '90' }, { p: 1, low: '0', high: '60', committed: '50' }]), barrier)).toBe(10);
  });
  it('is 0 once every partition passed its barrier, whatever arrived since (other sales keep selling)', () => {
    expect(remainingBeforeBarrier(reading([{ p: 0, low: '0', high: '900', committed: '100' }, { p: 1, low: '0', high: '80', committed: '51' }]), barrier)).toBe(0);
  });
  it('a partition with no committed offset counts every retained message below the barrier', () => {
    expect(remainingBeforeBarrier(reading([{ p: 0, low: '20', high: '100' }, { p: 1, low: '0', high: '50', committed: '50' }]), barrier)).toBe(80);
  });
  it('messages deleted by retention cannot be waited for', () => {
    expect(remainingBeforeBarrier(reading([{ p: 0, low: '100', high: '120', committed: '10' }, { p: 1, low: '0', high: '50', committed: '50' }]), barrier)).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { partitionOfProduct } from './partitioner.js';

describe('partitionOfProduct', () => {
  it('spreads keys over every partition and always sends one key to one partition', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(partitionOfProduct(`p-${i}`, 4));
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
    expect(partitionOfProduct('phone', 4)).toBe(partitionOfProduct('phone', 4));
    expect(partitionOfProduct('anything', 1)).toBe(0);
  });
  it('refuses a partition count that is not a positive integer', () => {
    expect(() => partitionOfProduct('phone', 0)).toThrow(/partitions must be a positive integer, got 0/);
  });
});

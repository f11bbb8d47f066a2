import { describe, expect, it } from 'vitest';
import { ProductLookup } from './product-lookup.js';

describe('ProductLookup', () => {
  it('asks once per product while the answer is fresh, negative answers included', async () => {
    const asked: string[] = [];
    const lookup = new ProductLookup(async (id) => {
      asked.push(id);
      return id === 'known';
    }, 60_000);
    const answers = await Promise.all([lookup.isKnown('known'), lookup.isKnown('known'), lookup.isKnown('nope'), lookup.isKnown('nope')]);
    expect(answers).toEqual([true, true, false, false]);
    expect(await lookup.isKnown('nope')).toBe(false);
    expect(asked).toEqual(['known', 'nope']);
    lookup.forget('nope');
    await lookup.isKnown('nope');
    expect(asked).toEqual(['known', 'nope', 'nope']);
  });

  it('does not cache a failure', async () => {
    let calls = 0;
    const lookup = new ProductLookup(async () => {
      calls++;
      if (calls === 1) throw new Error('PostgreSQL down');
      return true;
    }, 60_000);
    await expect(lookup.isKnown('p')).rejects.toThrow('PostgreSQL down');
    expect(await lookup.isKnown('p')).toBe(true);
  });

  it('stays bounded whatever ids clients send', async () => {
    const lookup = new ProductLookup(async () => false, 60_000, 3);
    for (const id of ['a', 'b', 'c', 'd', 'e']) await lookup.isKnown(id);
    expect((lookup as unknown as { cache: Map<string, unknown> }).cache.size).toBeLessThanOrEqual(3);
  });
});

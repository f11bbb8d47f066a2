import { describe, expect, it } from 'vitest';
import { isDeterministic, persistBisecting } from './bisect.js';
import { ABORTED } from './retry.js';

const pgError = (code: string) => Object.assign(new Error(`boom ${code}`), { code });
/** Retries transient errors up to `times` then gives up (ABORTED), like retryUntilDone on shutdown. */
const retrying = (times = 3) => async <R>(op: () => Promise<R>) => {
  for (let i = 0; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (i >= times) return ABORTED;
    }
  }
};

describe('isDeterministic', () => {
  it('data and constraint errors only', () => {
    expect(isDeterministic(pgError('22021'))).toBe(true); // invalid byte sequence
    expect(isDeterministic(pgError('23514'))).toBe(true); // check violation
    expect(isDeterministic(pgError('08006'))).toBe(false); // connection failure
    expect(isDeterministic(pgError('40001'))).toBe(false); // serialization failure
    expect(isDeterministic(pgError('57P01'))).toBe(false); // admin shutdown
    expect(isDeterministic(pgError('42P01'))).toBe(false); // undefined table: a missing migration, not a bad row
    expect(isDeterministic(new Error('Connection terminated unexpectedly'))).toBe(false);
  });
});

describe('persistBisecting', () => {
  it('passes the whole batch as itself, not a copy (persist-batch.ts matches it to its prepared form)', async () => {
    const items = [1, 2, 3];
    const seen: Array<readonly number[]> = [];
    await persistBisecting(items, async (slice) => void seen.push(slice), retrying());
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(items);
  });

  it('isolates every bad item, stores the rest in order', async () => {
    const stored: number[] = [];
    const items = Array.from({ length: 20 }, (_, i) => i);
    const bad = new Set([3, 4, 17]);
    const out = await persistBisecting(
      items,
      async (slice) => {
        if (slice.some((i) => bad.has(i))) throw pgError('23514');
        stored.push(...slice);
        return slice.length;
      },
      retrying(),
    );
    expect(out).not.toBe(ABORTED);
    if (out === ABORTED) return;
    expect(out.refused.map((r) => r.index)).toEqual([3, 4, 17]);
    expect(out.refused[0]!.reason).toBe('PostgreSQL refused the order (SQLSTATE 23514): boom 23514');
    expect(stored).toEqual(items.filter((i) => !bad.has(i))); // offset order kept
  });

  it('retries a transient error on the same slice without splitting', async () => {
    const slices: number[] = [];
    let failures = 2;
    const out = await persistBisecting(
      [1, 2, 3],
      async (slice) => {
        slices.push(slice.length);
        if (failures-- > 0) throw pgError('08006');
        return slice.length;
      },
      retrying(),
    );
    expect(slices).toEqual([3, 3, 3]);
    expect(out).toEqual({ results: [3], refused: [] });
  });

  it('gives up (ABORTED) when the retry does', async () => {
    expect(await persistBisecting([1], async () => Promise.reject(pgError('57P01')), retrying(1))).toBe(ABORTED);
  });
});

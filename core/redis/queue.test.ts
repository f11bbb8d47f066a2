// The serving counter and the start permutation (pure; the scripts run against Redis in e2e/api/queue.test.ts).
import { describe, expect, it } from 'vitest';
import { permute, placeOf, queueFigures, rebaseForRate, served, type QueueView } from './queue.js';

const view = (v: Partial<QueueView> = {}): QueueView => ({
  nowMs: 10_000, state: 'open', mode: 'queue', startsAtMs: 0, endsAtMs: 0, ratePerSecond: 10,
  joined: 100, base: 0, baseAtMs: 5_000, expired: 0, early: null, seed: 's', soldOut: false, ...v,
});

describe('serving counter', () => {
  it('admits ratePerSecond from the clock start, never more than joined', () => {
    expect(served(view({ nowMs: 4_000 }))).toBe(0);
    expect(served(view({ nowMs: 5_099 }))).toBe(0);
    expect(served(view({ nowMs: 5_100 }))).toBe(1);
    expect(served(view({ nowMs: 6_000 }))).toBe(10);
    expect(served(view({ nowMs: 60_000 }))).toBe(100);
  });

  it('gives the places of expired tokens to the next in line', () => {
    expect(served(view({ nowMs: 6_000, expired: 3 }))).toBe(13);
    expect(queueFigures(view({ nowMs: 6_000, expired: 3 }))).toEqual({ waiting: 87, admitted: 13 });
  });
});

describe('a rate change', () => {
  it('keeps the counter where it is, then goes on at the new rate', () => {
    const v = view({ nowMs: 6_000, expired: 2 });
    const before = served(v);
    const r = rebaseForRate(v)!;
    const after = { ...v, base: r.qBase, baseAtMs: r.qBaseAt, ratePerSecond: 1 };
    expect(served(after)).toBe(before);
    expect(served(after, 7_000)).toBe(before + 1);
    expect(rebaseForRate(view({ nowMs: 1_000 }))).toBeNull();
  });
});

describe('randomized start', () => {
  it('permutes 1..early (a bijection) and leaves later places alone', () => {
    const v = view({ mode: 'queue-randomized-start', startsAtMs: 5_000, early: 1000 });
    const places = Array.from({ length: 1000 }, (_, i) => placeOf(i + 1, v)!);
    expect(new Set(places).size).toBe(1000);
    expect(Math.min(...places)).toBe(1);
    expect(Math.max(...places)).toBe(1000);
    expect(places.filter((p, i) => p === i + 1).length).toBeLessThan(20);
    expect(placeOf(1001, v)).toBe(1001);
  });

  it('draws no place before the start; after it with no later join, every place so far is early', () => {
    expect(placeOf(3, view({ mode: 'queue-randomized-start', startsAtMs: 20_000 }))).toBeNull();
    const p = placeOf(3, view({ mode: 'queue-randomized-start', startsAtMs: 5_000, joined: 7 }))!;
    expect(p).toBeGreaterThanOrEqual(1);
    expect(p).toBeLessThanOrEqual(7);
  });

  it('another seed, another draw', () => {
    const a = Array.from({ length: 50 }, (_, i) => permute(i, 50, 'a'));
    const b = Array.from({ length: 50 }, (_, i) => permute(i, 50, 'b'));
    expect(a).not.toEqual(b);
  });
});

import { describe, expect, it } from 'vitest';
import { pairedRatio, showRatio } from './report.js';

describe('pairedRatio', () => {
  it('divides each round by the round that ran next to it, then takes the median', () => {
    // The machine slows to half speed in round 2: both sides halve, the pair's ratio stays 3.
    expect(pairedRatio([300, 150, 330], [100, 50, 100])).toBe(3);
  });

  it('does not take the two sides from different rounds, as the ratio of the two medians does', () => {
    // Pairs 2, 1.67, 3.75: median 2. Medians 150 (round 3) / 60 (round 2) would say 2.5.
    expect(pairedRatio([200, 100, 150], [100, 60, 40])).toBe(2);
  });

  it('averages the two middle pairs of an even count', () => {
    expect(pairedRatio([1, 2, 3, 4], [1, 1, 1, 1])).toBe(2.5);
  });

  it('leaves out rounds whose baseline answered nothing, and gives NaN when none is left', () => {
    expect(pairedRatio([10, 20], [0, 10])).toBe(2);
    expect(pairedRatio([10], [0])).toBeNaN();
    expect(pairedRatio([], [])).toBeNaN();
  });
});

describe('showRatio', () => {
  it('cuts at the shown digit, so a ratio under its target never shows as the target', () => {
    expect(showRatio(0.3975, true)).toBe('39.7%');
    expect(showRatio(2.996, false)).toBe('2.99x');
    expect(showRatio(0.85, true)).toBe('85.0%');
    expect(showRatio(3, false)).toBe('3.00x');
    expect(showRatio(0.57, false)).toBe('0.57x'); // 0.57 * 100 is 56.99999999999999 in floating point
    expect(showRatio(NaN, true)).toBe('n/a');
  });
});

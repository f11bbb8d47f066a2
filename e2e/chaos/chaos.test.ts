// The short chaos run CI can afford: a fixed seed (same faults every time) and one random seed
// (printed, replayable with CHAOS_SEED), each a 45 s fault phase on the full local stack (about
// 4 min with start-up, heal, sell-out and settling on a loaded 2-core machine), judged by the
// independent checker of tools/chaos. Every invariant count must be 0.
// Part of `npm test`; the long run is `npm run chaos` (README "Chaos").
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INVARIANTS } from '../../tools/chaos/checker.js';
import { runChaos, settingsFromEnv } from '../../tools/chaos/main.js';
import { REPO_ROOT } from '../../tools/stack/paths.js';
import { randomSeed } from '../../tools/chaos/rng.js';

const FIXED_SEED = 20261129;
const zero = Object.fromEntries(INVARIANTS.map((i) => [i, 0]));

describe('chaos (short run)', () => {
  it.each([
    ['fixed', FIXED_SEED],
    ['random', randomSeed()],
  ])('%s seed %i: no invariant is violated', async (label, seed) => {
    const settings = {
      ...settingsFromEnv({}),
      seed,
      durationS: 45,
      rate: 12,
      settleS: 90,
      outDir: join(REPO_ROOT, '.chaos', `e2e-${label}-seed-${seed}`),
    };
    const { verdict } = await runChaos(settings);
    expect(verdict.counts, `seed ${seed}: see ${settings.outDir}/report.json`).toEqual(zero);
  }, 8 * 60_000);
});

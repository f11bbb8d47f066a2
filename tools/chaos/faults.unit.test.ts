// Table tests of the fault catalog on a fake world (no process, no socket): which link a link fault
// may hit, that it heals what it broke, and that the Sentinel faults keep or lose the quorum as
// their names say and bring every Sentinel back.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FAULTS, type Links, type World } from './faults.js';
import { settingsFromEnv } from './main.js';
import { HEALTHY, type TcpProxy } from './proxy.js';
import type { RedisProc, SentinelSet } from './redis-sentinel.js';
import { Rng } from './rng.js';

const proxy = () => ({ fault: HEALTHY }) as unknown as TcpProxy;
const links = (owner: string, redis: boolean): Links => ({ owner, kafka: proxy(), redis: redis ? [proxy(), proxy()] : [] });

class FakeSentinel {
  alive = true;
  frozen = false;
  kills = 0;
  constructor(readonly name: string) {}
  running = () => this.alive;
  kill = async () => {
    this.alive = false;
    this.kills++;
  };
  start = () => {
    this.alive = true;
  };
  waitPing = async () => undefined;
}

function world(sentinels: FakeSentinel[] = []): World {
  return {
    redis: { sentinels: sentinels as unknown as RedisProc[] } as SentinelSet,
    links: [links('api-1', true), links('api-2', true), links('worker-1', false), links('operator-1', true)],
    background: new Set(),
    now: () => 0,
    log: () => undefined,
  } as unknown as World;
}

/** Runs a fault to its end under fake timers (faults sleep for seconds). */
async function inject(kind: string, w: World, seed: number) {
  const done = FAULTS[kind]!.inject(w, new Rng(seed));
  await vi.advanceTimersByTimeAsync(20_000);
  return done;
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('link faults', () => {
  it.each([
    ['kafka-drop', 'kafka', ['api-1', 'api-2', 'worker-1', 'operator-1']],
    ['kafka-latency', 'kafka', ['api-1', 'api-2', 'worker-1', 'operator-1']],
    ['redis-drop', 'redis', ['api-1', 'api-2', 'operator-1']],
    ['redis-latency', 'redis', ['api-1', 'api-2', 'operator-1']],
  ])('%s hits one process that has a %s link (over many seeds: each of %j), and heals it', async (kind, which, owners) => {
    const hit = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const w = world();
      const res = await inject(kind, w, seed);
      const [owner, link] = res!.target.split('->');
      expect(link).toBe(which);
      hit.add(owner!);
      for (const l of w.links) for (const p of [l.kafka, ...l.redis]) expect(p.fault).toEqual(HEALTHY);
    }
    expect([...hit].sort()).toEqual([...owners].sort());
  });

  it('faults only the chosen process while it lasts', async () => {
    const w = world();
    const done = FAULTS['redis-drop']!.inject(w, new Rng(7));
    await vi.advanceTimersByTimeAsync(100);
    const faulted = w.links.filter((l) => l.redis.some((p) => p.fault !== HEALTHY) || l.kafka.fault !== HEALTHY);
    expect(faulted).toHaveLength(1);
    expect(faulted[0]!.kafka.fault).toEqual(HEALTHY);
    expect(faulted[0]!.redis.every((p) => p.fault.dropResponse > 0)).toBe(true);
    await vi.advanceTimersByTimeAsync(20_000);
    expect((await done)!.target).toBe(`${faulted[0]!.owner}->redis`);
  });
});

describe('Sentinel faults', () => {
  const three = () => ['sentinel-1', 'sentinel-2', 'sentinel-3'].map((n) => new FakeSentinel(n));

  it('sentinel-kill: one down (the quorum of 2 holds), back in the background', async () => {
    const s = three();
    const w = world(s);
    const res = await FAULTS['sentinel-kill']!.inject(w, new Rng(3));
    expect(s.filter((x) => !x.alive).map((x) => x.name)).toEqual([res!.target]);
    await vi.advanceTimersByTimeAsync(11_000);
    await Promise.all([...w.background]);
    expect(s.every((x) => x.alive)).toBe(true);
  });

  it('sentinel-kill is skipped while a Sentinel is already down (never two by accident)', async () => {
    const s = three();
    s[1]!.alive = false;
    expect(await FAULTS['sentinel-kill']!.inject(world(s), new Rng(3))).toBeUndefined();
    expect(s.map((x) => x.kills)).toEqual([0, 0, 0]);
  });

  it.each([1, 2, 3, 4, 5])('sentinel-quorum-loss (seed %i): two distinct Sentinels down, both back at its end', async (seed) => {
    const s = three();
    const done = FAULTS['sentinel-quorum-loss']!.inject(world(s), new Rng(seed));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.filter((x) => !x.alive)).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(9000);
    const res = await done;
    expect(new Set(res!.target.split('+')).size).toBe(2);
    expect(s.every((x) => x.alive)).toBe(true);
    expect(s.reduce((n, x) => n + x.kills, 0)).toBe(2);
  });
});

describe('CHAOS_FAULTS', () => {
  it('refuses an unknown kind, naming it and the known ones', () => {
    expect(() => settingsFromEnv({ CHAOS_FAULTS: 'sentinel-kill,sentinal-kill' })).toThrow(/unknown kind\(s\) sentinal-kill; known: .*sentinel-kill.*sentinel-quorum-loss/);
  });

  it.each(['5000-1000', '1000', 'a-b'])('CHAOS_FAULT_GAP_MS=%s is refused', (v) => {
    expect(() => settingsFromEnv({ CHAOS_FAULT_GAP_MS: v })).toThrow(/CHAOS_FAULT_GAP_MS: want lo-hi/);
  });

  it('CHAOS_FAULT_GAP_MS defaults to 1000-5000', () => {
    expect(settingsFromEnv({}).faultGapMs).toEqual([1000, 5000]);
    expect(settingsFromEnv({ CHAOS_FAULT_GAP_MS: '200-1500' }).faultGapMs).toEqual([200, 1500]);
  });

  it('defaults to every kind of the catalog, each with a positive weight', () => {
    expect(settingsFromEnv({ CHAOS_SEED: '1' }).faults).toEqual(Object.keys(FAULTS));
    for (const [kind, f] of Object.entries(FAULTS)) expect(f.weight, kind).toBeGreaterThan(0);
  });
});

// The fault catalog and its seeded scheduler: which faults exist, how each one is injected and
// undone, and when. One fault at a time, at random gaps, from the fault Rng (CHAOS_SEED replays it).
// Invariant: every fault leaves a way back: heal() resumes, restarts and reopens everything, so
// the liveness check after the last fault judges Flux-Gate, not a harness that forgot a SIGSTOP.
import type pg from 'pg';
import type { ServiceControl } from '../stack/control.js';
import type { FgProcess } from './fleet.js';
import type { Fault } from './history.js';
import type { Kube, SaleDef } from './kube.js';
import { HEALTHY, type TcpProxy } from './proxy.js';
import type { RedisProc, SentinelSet } from './redis-sentinel.js';
import type { Rng } from './rng.js';
import { retrying, sleep, waitFor } from './util.js';

/** The proxies one process (API, worker or operator) reaches the backends through. */
export interface Links {
  /** The process's name (api-1, worker-2, operator-1…). */
  owner: string;
  kafka: TcpProxy;
  /** The proxies in front of the Redis data nodes and the Sentinels, as this process sees them (none for a worker). */
  redis: TcpProxy[];
}

export interface World {
  redis: SentinelSet;
  apis: FgProcess[];
  workers: FgProcess[];
  operators: FgProcess[];
  links: Links[];
  stack: ServiceControl;
  kube: Kube;
  sales: SaleDef[];
  pool: pg.Pool;
  leaseSeconds: number;
  /** Restarts still running in the background (the next fault does not wait for them; heal does). */
  background: Set<Promise<unknown>>;
  /** Processes a restart is pending for (a fault's, or the supervisor's). */
  restarting: Set<FgProcess>;
  /** Set at the end of the run: restarts stop trying. */
  restartsStopped: boolean;
  now(): number;
  log(line: string): void;
}

type Injector = (w: World, r: Rng) => Promise<{ target: string; detail?: string } | undefined>;

/**
 * Restarts a killed process after `ms`, in the background: the next fault may land while it is
 * still starting (as in a cluster, where nothing waits for a pod to be ready). heal() waits for it.
 * A start that fails (the process exits before ready) is tried again with a capped backoff, as a
 * kubelet restarts a crashed container, for as long as the run lasts: a process left dead is a
 * harness fault, not a Flux-Gate one (seen in a long run: both APIs down for 24 minutes, then every
 * api-kill "skipped (no target)"). Until w.stopRestarts() (the end of the run).
 */
export function restartAfter(w: World, p: FgProcess, ms: number): void {
  if (w.restarting.has(p)) return;
  w.restarting.add(p);
  const job = (async () => {
    await sleep(ms);
    for (let attempt = 1; !p.running() && !w.restartsStopped; attempt++) {
      try {
        await p.start(true);
      } catch (e) {
        w.log(`${p.name} failed to start (attempt ${attempt}), retrying: ${(e as Error).message.split('\n').slice(-3).join(' | ')}`);
        await sleep(Math.min(5_000, 500 * 2 ** attempt));
      }
    }
  })().catch(() => undefined);
  w.background.add(job);
  void job.finally(() => {
    w.background.delete(job);
    w.restarting.delete(p);
  });
}

/**
 * Like a kubelet: every second, a Flux-Gate process that exited by itself (not one a fault is
 * restarting) is logged and restarted. Returns the function that stops watching (before the heal).
 */
export function superviseFleet(w: World): () => void {
  const timer = setInterval(() => {
    for (const p of [...w.apis, ...w.workers, ...w.operators]) {
      if (p.running() || w.restarting.has(p) || w.restartsStopped) continue;
      w.log(`${p.name} exited by itself (${p.child?.exitCode ?? p.child?.signalCode}): restarting; last lines:\n${p.lastLines(5)}`);
      restartAfter(w, p, 0);
    }
  }, 1000);
  return () => clearInterval(timer);
}

/** SIGKILL (no goodbye), then a restart after a random delay in [lo, hi] ms, in the background. */
async function crash(w: World, r: Rng, p: FgProcess | undefined, [lo, hi]: [number, number]): Promise<{ target: string } | undefined> {
  if (!p?.running()) return undefined;
  // The supervisor must not restart it before the drawn delay. A process still starting (its
  // restart pending) may be killed too: that restart's loop tries again.
  const mine = !w.restarting.has(p);
  if (mine) w.restarting.add(p);
  try {
    await p.stop('SIGKILL');
  } finally {
    if (mine) w.restarting.delete(p);
  }
  restartAfter(w, p, r.int(lo, hi));
  return { target: p.name };
}

async function leader(w: World): Promise<FgProcess | undefined> {
  const holder = await w.kube.leaseHolder();
  return w.operators.find((o) => o.name === holder && o.running() && !o.frozen);
}

async function remaining(w: World, productId: string): Promise<number | undefined> {
  const r = await w.pool.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId]).catch(() => undefined);
  return r?.rows[0]?.stock;
}

/**
 * Sets a link fault on one process's proxies for a while, then heals it. Half the time an API's
 * (where an ambiguous produce or reservation matters most), else any process that has the link.
 */
async function linkFault(w: World, r: Rng, which: 'kafka' | 'redis', fault: typeof HEALTHY, ms: number): Promise<{ target: string; detail: string }> {
  const having = w.links.filter((l) => (which === 'kafka' ? true : l.redis.length > 0));
  const apis = having.filter((l) => l.owner.startsWith('api-'));
  const l = r.pick(r.chance(0.5) && apis.length ? apis : having)!;
  const proxies = which === 'kafka' ? [l.kafka] : l.redis;
  for (const p of proxies) p.fault = fault;
  await sleep(ms);
  for (const p of proxies) p.fault = HEALTHY;
  return { target: `${l.owner}->${which}`, detail: `${JSON.stringify(fault)} for ${ms} ms` };
}

/** Restarts a killed Sentinel after `ms`, in the background (heal() waits for it). */
function restartSentinelAfter(w: World, s: RedisProc, ms: number): void {
  const job = sleep(ms).then(async () => {
    if (s.running()) return;
    s.start(); // its config file, rewritten by Sentinel itself, names the current master
    await s.waitPing();
  }).catch(() => undefined);
  w.background.add(job);
  void job.finally(() => w.background.delete(job));
}

const liveSentinels = (w: World) => w.redis.sentinels.filter((s) => s.running() && !s.frozen);

export const FAULTS: Record<string, { weight: number; inject: Injector }> = {
  'redis-master-kill': { weight: 3, async inject(w, r) {
    const m = await w.redis.master();
    if (!m?.running() || m.frozen) return undefined;
    await m.kill();
    // Left dead until the Sentinels promote a replica (or 15 s), then back, empty, as a replica.
    const t = Date.now();
    while (Date.now() - t < 15_000 && (await w.redis.master())?.port === m.port) await sleep(250);
    await sleep(r.int(0, 2000));
    m.start();
    return { target: m.name, detail: `new master ${(await w.redis.master())?.name ?? 'none'} after ${Date.now() - t} ms` };
  } },
  'redis-restart-empty': { weight: 2, async inject(w) {
    const m = await w.redis.master();
    if (!m?.running() || m.frozen) return undefined;
    await m.kill();
    m.start(); // back before the Sentinels notice: the replicas resync from an empty master
    return { target: m.name };
  } },
  'redis-master-stop': { weight: 2, async inject(w, r) {
    const m = await w.redis.master();
    if (!m?.running() || m.frozen) return undefined;
    const ms = r.int(2500, 6000);
    m.signal('SIGSTOP');
    await sleep(ms);
    m.signal('SIGCONT');
    return { target: m.name, detail: `frozen ${ms} ms` };
  } },
  'redis-flushall': { weight: 2, async inject(w) {
    const m = await w.redis.master();
    if (!m?.running() || m.frozen) return undefined;
    await m.admin((c) => c.flushall());
    return { target: m.name };
  } },
  'sentinel-kill': { weight: 2, async inject(w, r) {
    // One of three down: the other two still make the quorum (2), a failover can still happen.
    const live = liveSentinels(w);
    if (live.length < 3) return undefined;
    const s = r.pick(live);
    await s.kill();
    const ms = r.int(1000, 10_000);
    restartSentinelAfter(w, s, ms);
    return { target: s.name, detail: `back after ${ms} ms` };
  } },
  'sentinel-quorum-loss': { weight: 1, async inject(w, r) {
    // Two of three down: no failover can be agreed until one is back (a master lost meanwhile
    // stays lost: writes fail, nothing is promoted). Clients keep the master they know.
    const live = liveSentinels(w);
    if (live.length < 3) return undefined;
    const first = r.pick(live);
    const down = [first, r.pick(live.filter((s) => s !== first))];
    for (const s of down) await s.kill();
    const ms = r.int(2000, 8000);
    await sleep(ms);
    for (const s of down) {
      s.start();
      await s.waitPing();
    }
    return { target: down.map((s) => s.name).join('+'), detail: `quorum lost for ${ms} ms` };
  } },
  'api-kill': { weight: 3, inject: (w, r) => crash(w, r, r.pick(w.apis), [300, 2000]) },
  'worker-kill': { weight: 2, inject: (w, r) => crash(w, r, r.pick(w.workers), [500, 3000]) },
  'operator-leader-kill': { weight: 2, inject: async (w, r) => crash(w, r, await leader(w), [500, 3000]) },
  'operator-leader-stop': { weight: 2, async inject(w, r) {
    const p = await leader(w);
    if (!p) return undefined;
    const ms = (w.leaseSeconds + r.int(1, 4)) * 1000;
    p.signal('SIGSTOP'); // past its Lease: the standby takes over while this one still believes it leads
    await sleep(ms);
    p.signal('SIGCONT');
    return { target: p.name, detail: `frozen ${ms} ms` };
  } },
  'kafka-restart': { weight: 1, async inject(w) {
    await w.stack.stop('kafka', { hard: true });
    await retrying(5, () => w.stack.start('kafka'));
    return { target: 'kafka' };
  } },
  'postgres-restart': { weight: 1, async inject(w) {
    await w.stack.stop('postgres', { hard: true });
    await retrying(5, () => w.stack.start('postgres'));
    return { target: 'postgres' };
  } },
  'kafka-latency': { weight: 2, inject: (w, r) => linkFault(w, r, 'kafka', { latencyMs: r.int(100, 1500), dropResponse: 0 }, r.int(2000, 8000)) },
  'kafka-drop': { weight: 3, inject: (w, r) => linkFault(w, r, 'kafka', { latencyMs: 0, dropResponse: r.pick([0.05, 0.2, 0.5]) }, r.int(2000, 6000)) },
  'redis-latency': { weight: 2, inject: (w, r) => linkFault(w, r, 'redis', { latencyMs: r.int(100, 2500), dropResponse: 0 }, r.int(2000, 8000)) },
  'redis-drop': { weight: 2, inject: (w, r) => linkFault(w, r, 'redis', { latencyMs: 0, dropResponse: r.pick([0.05, 0.2, 0.5]) }, r.int(2000, 6000)) },
  'stock-raise': { weight: 2, async inject(w, r) {
    const s = r.pick(w.sales);
    const by = r.int(3, 20);
    await w.kube.patchSale(s.name, { stock: s.stock + by });
    s.stock += by; // only once the apiserver took it: the checker expects what the spec says
    return { target: s.name, detail: `+${by} → ${s.stock}` };
  } },
  'stock-lower': { weight: 2, async inject(w, r) {
    const s = r.pick(w.sales);
    const left = await remaining(w, s.productId);
    if (left === undefined || left < 15) return undefined; // never below what is sold (the operator refuses that)
    const by = r.int(1, 3);
    await w.kube.patchSale(s.name, { stock: s.stock - by });
    s.stock -= by;
    return { target: s.name, detail: `−${by} → ${s.stock}` };
  } },
  'sale-pause': { weight: 1, async inject(w, r) {
    const s = r.pick(w.sales);
    const ms = r.int(1000, 5000);
    await w.kube.patchSale(s.name, { paused: true });
    await sleep(ms);
    await w.kube.patchSale(s.name, { paused: false });
    return { target: s.name, detail: `paused ${ms} ms` };
  } },
  'sale-recreate': { weight: 1, async inject(w, r) {
    const s = r.pick(w.sales);
    await w.kube.deleteSale(s.name);
    await sleep(r.int(0, 2000));
    await w.kube.applySale(s);
    return { target: s.name };
  } },
};

export type FaultKind = keyof typeof FAULTS;

/** Picks the next fault (from the allowed kinds) and injects it; the record says whether it could. */
export async function injectOne(w: World, r: Rng, kinds: string[]): Promise<Fault> {
  const kind = r.weighted(kinds.map((k) => [k, FAULTS[k]!.weight] as const));
  const t = w.now();
  w.log(`fault ${kind}…`);
  try {
    const res = await FAULTS[kind]!.inject(w, r);
    const f: Fault = { t, tEnd: w.now(), kind, target: res?.target ?? '-', detail: res?.detail, injected: res !== undefined };
    w.log(`fault ${kind} ${f.injected ? `on ${f.target}${f.detail ? ` (${f.detail})` : ''}` : 'skipped (no target)'}`);
    return f;
  } catch (e) {
    w.log(`fault ${kind} failed: ${(e as Error).message}`);
    return { t, tEnd: w.now(), kind, target: '-', detail: `harness error: ${(e as Error).message}`, injected: false };
  }
}

/** Undoes whatever is still broken: proxies healthy, Redis and services up, processes resumed and running, sales open. */
export async function healAll(w: World): Promise<void> {
  await Promise.all([...w.background]);
  for (const l of w.links) for (const p of [l.kafka, ...l.redis]) p.fault = HEALTHY;
  await w.redis.heal();
  await retrying(5, () => w.stack.start('kafka'));
  await retrying(5, () => w.stack.start('postgres'));
  for (const p of [...w.operators, ...w.workers, ...w.apis]) {
    if (p.frozen) p.signal('SIGCONT');
    if (!p.running()) await p.start(true);
    else if (!p.ready) await waitFor(`${p.name} ready`, async () => p.ready || undefined, 90_000);
  }
  for (const s of w.sales) {
    s.paused = false;
    await retrying(5, () => w.kube.applySale(s));
  }
}

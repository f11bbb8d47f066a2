// `npm run chaos`: a randomized fault-injection run on the local stack, judged by an independent
// checker (checker.ts). Starts Redis Sentinel (3 nodes, 3 Sentinels), proxies, 2 workers, 2
// operators and 2 APIs from the built CLI, applies FlashSales with kubectl, loads them like buyers,
// injects faults from CHAOS_SEED, heals, restocks, waits for quiescence, reads PostgreSQL and
// Redis, checks, writes report.json + timeline.svg, exits 1 on any violation.
// Invariant: every process and port this run opens is closed by cleanup(), even on failure or ^C.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { Redis } from 'ioredis';
import { ServiceControl } from '../stack/control.js';
import { REPO_ROOT, stackPaths } from '../stack/paths.js';
import { stackEnv } from '../stack/stack.js';
import { check, type Verdict } from './checker.js';
import { FAULTS, healAll, injectOne, superviseFleet, type Links, type World } from './faults.js';
import { cliPath, FgProcess } from './fleet.js';
import type { FinalState, RunRecord, SaleSpec } from './history.js';
import { kafkaRewriter } from './kafka-frames.js';
import { Kube, type SaleDef } from './kube.js';
import { Load } from './load.js';
import { TcpProxy } from './proxy.js';
import { MASTER_NAME, SentinelSet } from './redis-sentinel.js';
import { writeReport, summaryText } from './report.js';
import { sentinelRewriter } from './resp.js';
import { randomSeed, Rng } from './rng.js';
import { freePort, retrying, sleep, waitFor } from './util.js';

export interface ChaosSettings {
  seed: number;
  /** Seconds of faults (load runs through them, and on until every sale sold out after the heal). */
  durationS: number;
  /** New orders per second. */
  rate: number;
  sales: number;
  apis: number;
  workers: number;
  operators: number;
  /** Fault kinds allowed (default: all). */
  faults: string[];
  /** Gap between one fault's end and the next one's start, drawn in [lo, hi] ms (CHAOS_FAULT_GAP_MS=lo-hi). */
  faultGapMs: [number, number];
  /** After the heal, each sale must sell again and answer sold_out within this bound (s) of its restock. */
  livenessS: number;
  /** Units each sale is left with by the liveness restock (its spec.stock is set so exactly these remain). */
  livenessUnits: number;
  /** After the load, how long Kafka lag 0 and Redis = PostgreSQL may take. */
  settleS: number;
  outDir: string;
}

const num = (v: string | undefined, d: number) => (v === undefined || v === '' ? d : Number(v));

export function settingsFromEnv(env: NodeJS.ProcessEnv): ChaosSettings {
  const seed = env.CHAOS_SEED ? Number(env.CHAOS_SEED) >>> 0 : randomSeed();
  const faults = env.CHAOS_FAULTS ? env.CHAOS_FAULTS.split(',').filter(Boolean) : Object.keys(FAULTS);
  const unknown = faults.filter((f) => !(f in FAULTS));
  if (unknown.length) throw new Error(`CHAOS_FAULTS: unknown kind(s) ${unknown.join(', ')}; known: ${Object.keys(FAULTS).join(', ')}`);
  const gap = /^(\d+)-(\d+)$/.exec(env.CHAOS_FAULT_GAP_MS ?? '1000-5000');
  if (!gap || Number(gap[1]) > Number(gap[2])) throw new Error(`CHAOS_FAULT_GAP_MS: want lo-hi in ms with lo <= hi (e.g. 1000-5000), got ${JSON.stringify(env.CHAOS_FAULT_GAP_MS)}`);
  return {
    seed,
    faultGapMs: [Number(gap[1]), Number(gap[2])],
    durationS: num(env.CHAOS_DURATION_S, 120),
    rate: num(env.CHAOS_RATE, 25),
    sales: num(env.CHAOS_SALES, 3),
    apis: num(env.CHAOS_APIS, 2),
    workers: num(env.CHAOS_WORKERS, 2),
    operators: num(env.CHAOS_OPERATORS, 2),
    faults,
    livenessS: num(env.CHAOS_LIVENESS_S, 120),
    livenessUnits: num(env.CHAOS_LIVENESS_UNITS, 25),
    settleS: num(env.CHAOS_SETTLE_S, 90),
    outDir: env.CHAOS_OUT || join(REPO_ROOT, '.chaos', `${new Date().toISOString().replace(/[:.]/g, '-')}-seed-${seed}`),
  };
}

const LEASE_SECONDS = 4;

class Run {
  readonly t0 = Date.now();
  readonly rng: Rng;
  readonly cleanups: Array<() => Promise<unknown>> = [];
  readonly procs: FgProcess[] = [];
  world!: World;
  load!: Load;
  topic = '';
  groupId = '';

  constructor(readonly s: ChaosSettings) {
    this.rng = new Rng(s.seed);
  }

  now = () => Date.now() - this.t0;
  log = (line: string) => process.stderr.write(`[chaos +${(this.now() / 1000).toFixed(1)}s] ${line}\n`);

  async cleanup(): Promise<void> {
    for (const f of this.cleanups.reverse()) await f().catch((e: Error) => this.log(`cleanup: ${e.message}`));
    this.cleanups.length = 0;
  }
}

/**
 * Proxies one process reaches Kafka and Redis through: a Kafka broker proxy and, unless it has no
 * Redis (a worker), one per data node and one per Sentinel. `rngName` keeps each stream of proxy
 * draws apart (the APIs' names are those of earlier runs, so their seeds replay alike).
 */
async function startLinks(run: Run, owner: string, rngName: string, redis: SentinelSet | undefined, kafkaPort: number): Promise<Links & { sentinelPorts: number[] }> {
  const rng = run.rng.fork(rngName);
  const kafka = await startProxy((listenPort) =>
    new TcpProxy({ name: 'kafka', listenPort, targetPort: kafkaPort, rng, rewriter: kafkaRewriter((p) => (p === kafkaPort ? listenPort : p)) }));
  if (!redis) {
    run.cleanups.push(() => kafka.stop());
    return { owner, kafka, redis: [], sentinelPorts: [] };
  }
  const portMap = new Map<number, number>();
  const data: TcpProxy[] = [];
  for (const n of redis.nodes) {
    const proxy = await startProxy((listenPort) => new TcpProxy({ name: n.name, listenPort, targetPort: n.port, rng }));
    portMap.set(n.port, proxy.port);
    data.push(proxy);
  }
  const sentinels: TcpProxy[] = [];
  for (const s of redis.sentinels) {
    const proxy = await startProxy((listenPort) =>
      new TcpProxy({ name: s.name, listenPort, targetPort: s.port, rng, rewriter: sentinelRewriter((p) => portMap.get(p) ?? p) }));
    portMap.set(s.port, proxy.port);
    sentinels.push(proxy);
  }
  const all = [kafka, ...data, ...sentinels];
  run.cleanups.push(async () => Promise.all(all.map((p) => p.stop())));
  return { owner, kafka, redis: [...data, ...sentinels], sentinelPorts: sentinels.map((p) => p.port) };
}

/**
 * A proxy listening on a port free a moment ago: another process may take that port between the
 * pick and the listen (the ephemeral range is shared with outgoing connections), so pick again.
 */
async function startProxy(make: (listenPort: number) => TcpProxy): Promise<TcpProxy> {
  for (let attempt = 1; ; attempt++) {
    const proxy = make(await freePort());
    try {
      await proxy.start();
      return proxy;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw e;
    }
  }
}

function migrate(env: Record<string, string>): void {
  const r = spawnSync(process.execPath, [cliPath(), 'migrate'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`flux-gate migrate failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

function saleDefs(run: Run): SaleDef[] {
  const tag = `${run.s.seed.toString(36)}-${Date.now().toString(36).slice(-4)}`;
  // Sized so the faults fall on sales still selling: as many units as orders the fault phase brings
  // (some are refused, over the limit or retried), the rest sells out after the heal.
  const stock = Math.max(20, Math.round((run.s.rate * run.s.durationS * 1.2) / run.s.sales));
  return Array.from({ length: run.s.sales }, (_, i) => ({ name: `sale-${i + 1}`, productId: `chaos-${tag}-${i + 1}`, stock, perUser: i % 2 === 0 ? 1 : 2, paused: false }));
}

async function kafkaLag(brokers: string, topic: string, groupId: string): Promise<number> {
  const admin = new Kafka({ clientId: 'flux-gate-chaos', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 1 } }).admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const at = new Map(committed!.partitions.map((p) => [p.partition, Number(p.offset)]));
    return ends.reduce((lag, p) => lag + Math.max(0, Number(p.high) - Math.max(0, at.get(p.partition) ?? 0)), 0);
  } finally {
    await admin.disconnect();
  }
}

async function redisStock(redis: SentinelSet, productIds: string[]): Promise<Map<string, number | null>> {
  const m = await redis.master();
  if (!m) throw new Error('no Redis master');
  return m.admin(async (c: Redis) => {
    const out = new Map<string, number | null>();
    for (const p of productIds) {
      const v = await c.get(`fg:{${p}}:stock`);
      out.set(p, v === null ? null : Number(v));
    }
    return out;
  });
}

async function readFinal(run: Run, pool: pg.Pool, redis: SentinelSet, sales: SaleDef[], quiescent: boolean): Promise<FinalState> {
  const ids = sales.map((s) => s.productId);
  const orders = await pool.query(
    `SELECT id::text, product_id, user_id, idempotency_key, quantity, status, reject_reason FROM orders WHERE product_id = ANY($1)`, [ids]);
  const products = await pool.query(`SELECT id, stock, initial_stock FROM products WHERE id = ANY($1)`, [ids]);
  const stock = await redisStock(redis, ids);
  return {
    quiescent,
    orders: orders.rows.map((o) => ({ id: o.id, productId: o.product_id, userId: o.user_id, key: o.idempotency_key, quantity: o.quantity, status: o.status, rejectReason: o.reject_reason })),
    products: products.rows.map((p) => ({ id: p.id, stock: p.stock, initialStock: p.initial_stock })),
    redis: ids.map((p) => ({ productId: p, stock: stock.get(p) ?? null })),
  };
}

/** Lag 0, then Redis = PostgreSQL for every sale (the operator's audit may need a few rounds), within settleS. */
async function settle(run: Run, brokers: string, pool: pg.Pool, redis: SentinelSet, sales: SaleDef[]): Promise<boolean> {
  const deadline = Date.now() + run.s.settleS * 1000;
  const left = () => Math.max(1000, deadline - Date.now());
  try {
    await waitFor('Kafka lag 0', async () => ((await kafkaLag(brokers, run.topic, run.groupId)) === 0 ? true : undefined), left());
    run.log('Kafka lag 0');
  } catch (e) {
    run.log((e as Error).message);
    return false;
  }
  await waitFor('Redis stock = PostgreSQL stock for every sale', async () => {
    const f = await readFinal(run, pool, redis, sales, true);
    return f.products.every((p) => f.redis.find((x) => x.productId === p.id)?.stock === p.stock) ? true : undefined;
  }, left()).catch((e: Error) => run.log(e.message));
  return true;
}

async function bootstrap(run: Run): Promise<{ env: Record<string, string>; pool: pg.Pool; sales: SaleDef[]; brokers: string }> {
  // The stack the caller points at (stack:env, the e2e global setup), else this checkout's own.
  const stateDir = process.env.FLUXGATE_STACK_STATE || stackPaths().stateDir;
  const { vars } = await stackEnv(stateDir);
  const brokers = vars.KAFKA_BROKERS!;
  const env = { DATABASE_URL: vars.DATABASE_URL!, KAFKA_BROKERS: brokers };
  migrate(env);
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 3 });
  pool.on('error', () => undefined);
  run.cleanups.push(() => pool.end());
  const stack = new ServiceControl(stateDir, run.log);

  const redis = await SentinelSet.start();
  run.cleanups.push(() => redis.stop(join(run.s.outDir, 'redis')));
  run.log(`Redis Sentinel: nodes ${redis.nodes.map((n) => n.port).join(',')}, Sentinels ${redis.sentinels.map((n) => n.port).join(',')}`);

  const kube = await Kube.connect(stateDir);
  run.cleanups.push(() => kube.cleanup());
  const operatorKubeconfig = await kube.operatorKubeconfig();
  const sales = saleDefs(run);
  run.topic = `chaos-${run.s.seed.toString(36)}-${Date.now().toString(36)}`;
  run.groupId = `${run.topic}-workers`;
  const common = { ...env, ORDERS_TOPIC: run.topic, ORDERS_TOPIC_PARTITIONS: '3', KAFKA_GROUP_ID: run.groupId, METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' };
  const logDir = run.s.outDir;
  const add = (p: FgProcess) => {
    run.procs.push(p);
    return p;
  };
  const kafkaPort = Number(brokers.split(':')[1]);
  // Every process reaches Kafka (and Redis) through its own proxies: link faults hit any of them.
  const links: Links[] = [];
  const workers: FgProcess[] = [];
  for (let i = 0; i < run.s.workers; i++) {
    const l = await startLinks(run, `worker-${i + 1}`, `links-worker-${i + 1}`, undefined, kafkaPort);
    links.push(l);
    workers.push(add(new FgProcess(l.owner, 'worker', { ...common, KAFKA_BROKERS: `127.0.0.1:${l.kafka.port}`, WORKER_SESSION_TIMEOUT_MS: '6000' }, logDir)));
  }
  const operators: FgProcess[] = [];
  for (let i = 0; i < run.s.operators; i++) {
    const l = await startLinks(run, `operator-${i + 1}`, `links-operator-${i + 1}`, redis, kafkaPort);
    links.push(l);
    operators.push(add(new FgProcess(l.owner, 'operator', {
      ...common, KAFKA_BROKERS: `127.0.0.1:${l.kafka.port}`, REDIS_SENTINELS: l.sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
      REDIS_SENTINEL_MASTER: MASTER_NAME, KUBECONFIG: operatorKubeconfig, WATCH_NAMESPACE: kube.ns,
      OPERATOR_NAMESPACE: kube.ns, OPERATOR_IDENTITY: l.owner, LEASE_DURATION_SECONDS: String(LEASE_SECONDS), LEASE_RENEW_DEADLINE_SECONDS: '3',
      LEASE_RETRY_PERIOD_SECONDS: '0.5', LAG_POLL_SECONDS: '0.5', RESYNC_SECONDS: '5', AUDIT_CONFIRM_SECONDS: '2', RECONCILE_RETRY_MAX_SECONDS: '5',
    }, logDir)));
  }
  const apis: FgProcess[] = [];
  for (let i = 0; i < run.s.apis; i++) {
    const l = await startLinks(run, `api-${i + 1}`, `links-${i}`, redis, kafkaPort);
    links.push(l);
    apis.push(add(new FgProcess(l.owner, 'api', {
      ...common, PORT: String(await freePort()), HOST: '127.0.0.1', KAFKA_BROKERS: `127.0.0.1:${l.kafka.port}`,
      REDIS_SENTINELS: l.sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','), REDIS_SENTINEL_MASTER: MASTER_NAME, SOLD_OUT_CACHE_MS: '300',
    }, logDir)));
  }
  run.cleanups.push(async () => {
    // Finalizers need a running operator: drop them so the namespace can go, then stop everything.
    run.world.restartsStopped = true;
    for (const s of sales) await kube.kubectl(['patch', 'flashsale', s.name, '-n', kube.ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => undefined);
    for (const p of run.procs) await p.close();
  });
  run.world = {
    redis, apis, workers, operators, links, stack, kube, sales, pool, leaseSeconds: LEASE_SECONDS,
    background: new Set(), restarting: new Set(), restartsStopped: false, now: run.now, log: run.log,
  };
  for (const w of workers) await w.start();
  for (const o of operators) await o.start();
  for (const s of sales) await kube.applySale(s);
  for (const a of apis) await a.start();
  await waitFor('every FlashSale Active', async () => {
    for (const s of sales) if ((await kube.saleStatus(s.name))?.phase !== 'Active') return undefined;
    return true;
  }, 120_000);
  run.log(`up: ${apis.length} APIs, ${workers.length} workers, ${operators.length} operators; sales ${sales.map((s) => `${s.productId} (${s.stock}, perUser ${s.perUser})`).join(', ')}`);
  return { env, pool, sales, brokers };
}

async function faultPhase(run: Run): Promise<RunRecord['faults']> {
  const r = run.rng.fork('faults');
  const faults: RunRecord['faults'] = [];
  const end = Date.now() + run.s.durationS * 1000;
  await sleep(3000); // some clean sales first: a baseline on the timeline
  while (Date.now() < end) {
    faults.push(await injectOne(run.world, r, run.s.faults));
    await sleep(r.int(...run.s.faultGapMs));
  }
  return faults;
}

/**
 * The liveness restock, after the heal: each sale is paused, the system settles (Kafka lag 0,
 * Redis = PostgreSQL), and one patch sets spec.stock so that exactly livenessUnits remain and
 * unpauses it (lowering or raising spec.stock is an operation the operator handles, like the
 * stock-raise and stock-lower faults; settled first, so no unit sold in flight makes the patch a
 * lowering below what is sold). Then the load runs until each sale sold again and answered
 * sold_out, or 1.5 × the bound passed; the checker judges the client record against the bound.
 */
async function livenessPhase(run: Run, brokers: string, pool: pg.Pool, sales: SaleDef[]): Promise<Map<string, number>> {
  for (const s of sales) {
    await retrying(5, () => run.world.kube.patchSale(s.name, { paused: true }));
    s.paused = true;
  }
  if (!(await settle(run, brokers, pool, run.world.redis, sales))) run.log('liveness: the paused sales did not settle; restocking from what the stores say now');
  const now = await readFinal(run, pool, run.world.redis, sales, false);
  const restockAt = new Map<string, number>();
  for (const s of sales) {
    const pgLeft = now.products.find((p) => p.id === s.productId)?.stock;
    const redisLeft = now.redis.find((x) => x.productId === s.productId)?.stock;
    // The smaller of the two: a unit reserved in Redis and not yet confirmed counts as sold.
    const left = Math.min(...[pgLeft, redisLeft].filter((x): x is number => typeof x === 'number'));
    if (!Number.isFinite(left)) throw new Error(`liveness: no remaining stock known for ${s.productId} (PostgreSQL ${pgLeft}, Redis ${redisLeft})`);
    const stock = s.stock - left + run.s.livenessUnits;
    await retrying(5, () => run.world.kube.patchSale(s.name, { stock, paused: false }));
    run.log(`liveness: ${s.name} ${left} units left of ${s.stock} → spec.stock ${stock} (${run.s.livenessUnits} left), unpaused`);
    s.stock = stock;
    s.paused = false;
    restockAt.set(s.productId, run.now());
  }
  // Done when each sale sold again and then answered sold_out (what the checker's liveness asks).
  const soldOutAgain = (s: SaleDef) => {
    const mine = run.load.attempts.filter((a) => a.productId === s.productId && a.t0 >= restockAt.get(s.productId)!);
    const first = mine.find((a) => a.outcome === 200 && !a.replayed);
    return !!first && mine.some((a) => a.t0 >= first.t1 && a.outcome === 409 && a.answer === 'sold_out');
  };
  const deadline = Date.now() + run.s.livenessS * 1500;
  while (Date.now() < deadline && !sales.every(soldOutAgain)) await sleep(1000);
  return restockAt;
}

export async function runChaos(s: ChaosSettings): Promise<{ record: RunRecord; verdict: Verdict }> {
  const run = new Run(s);
  const onSignal = () => void run.cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  mkdirSync(s.outDir, { recursive: true });
  run.log(`CHAOS_SEED=${s.seed} CHAOS_DURATION_S=${s.durationS} CHAOS_RATE=${s.rate} (replay with the same values); output ${s.outDir}`);
  try {
    const { pool, sales, brokers } = await bootstrap(run);
    run.load = new Load({
      apis: run.world.apis.map((a) => ({ name: a.name, port: Number(a.env.PORT) })),
      sales: sales.map((x) => ({ productId: x.productId, perUser: x.perUser })),
      rate: s.rate, concurrency: 64, users: 5000, requestTimeoutMs: 3000, rng: run.rng.fork('load'), now: run.now,
    });
    run.load.start();
    const unsupervise = superviseFleet(run.world);
    const faults = await faultPhase(run);
    unsupervise();
    run.log('healing everything');
    await healAll(run.world);
    const healedAt = run.now();
    const restockAt = await livenessPhase(run, brokers, pool, sales);
    await run.load.stop();
    run.log(`load stopped after ${run.load.attempts.length} requests; settling`);
    const quiescent = await settle(run, brokers, pool, run.world.redis, sales);
    const final = await readFinal(run, pool, run.world.redis, sales, quiescent);
    const specs: SaleSpec[] = sales.map((x) => ({ name: x.name, productId: x.productId, stock: x.stock, perUser: x.perUser, restockAt: restockAt.get(x.productId) }));
    const record: RunRecord = { seed: s.seed, startedAt: new Date(run.t0).toISOString(), healedAt, endedAt: run.now(), attempts: run.load.attempts, faults, sales: specs, final };
    const verdict = check(record, { livenessBoundMs: s.livenessS * 1000 });
    const files = writeReport(s.outDir, record, verdict, { ...s });
    process.stdout.write(`${summaryText(record, verdict)}\nreport: ${files.json}\ntimeline: ${files.svg}\n`);
    return { record, verdict };
  } finally {
    await run.cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

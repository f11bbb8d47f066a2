// Bench knobs, from the environment (all optional), validated with a message naming the variable.
import type { E2eSettings } from './e2e-case.js';

export interface BenchSettings {
  /** Seconds of one measured round; every HTTP case runs `rounds` of them, taking turns. */
  durationS: number;
  warmupS: number;
  rounds: number;
  connections: number;
  threads: number;
  /** CPU lists for taskset, or undefined when not pinning (BENCH_PIN=off). */
  serverCpus?: string;
  wrkCpus?: string;
  workerOrders: number;
  /** Cap on the measured window of the per-message worker (it would take minutes for all orders). */
  perMessageMaxS: number;
  cases: Set<string>;
  /** Calls of each redis-benchmark run of the reserve case. */
  redisCalls: number;
  /** The end-to-end case (e2e-case.ts): BENCH_E2E_*. */
  e2e: E2eSettings;
}

export const CASES = ['ceiling', 'soldout', 'accept', 'replica', 'worker', 'e2e', 'redis'] as const;

function int(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  return n;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const pin = env.BENCH_PIN ?? 'off';
  let serverCpus: string | undefined;
  let wrkCpus: string | undefined;
  if (pin !== 'off') {
    const m = /^([0-9,-]+):([0-9,-]+)$/.exec(pin);
    if (!m) throw new Error(`BENCH_PIN must be "off" or "<server cpus>:<wrk cpus>" (e.g. "1:0"), got ${JSON.stringify(pin)}`);
    [serverCpus, wrkCpus] = [m[1], m[2]];
  }
  const only = (env.BENCH_ONLY ?? CASES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of only)
    if (!(CASES as readonly string[]).includes(c)) throw new Error(`BENCH_ONLY: unknown case ${JSON.stringify(c)}; cases are ${CASES.join(', ')}`);
  return {
    durationS: int(env, 'BENCH_DURATION_S', 2, 1, 600),
    rounds: int(env, 'BENCH_ROUNDS', 6, 1, 20),
    warmupS: int(env, 'BENCH_WARMUP_S', 2, 0, 60),
    connections: int(env, 'BENCH_CONNECTIONS', 64, 1, 10_000),
    threads: int(env, 'BENCH_WRK_THREADS', 1, 1, 64),
    serverCpus,
    wrkCpus,
    workerOrders: int(env, 'BENCH_WORKER_ORDERS', 100_000, 1_000, 10_000_000),
    perMessageMaxS: int(env, 'BENCH_PER_MESSAGE_MAX_S', 10, 1, 600),
    cases: new Set(only),
    redisCalls: int(env, 'BENCH_REDIS_CALLS', 200_000, 1_000, 100_000_000),
    e2e: e2eSettings(env),
  };
}

/** The end-to-end case's size: the 1,000,000 requests, 200,000 buyers, 100,000 units by default. */
function e2eSettings(env: NodeJS.ProcessEnv): E2eSettings {
  const e: E2eSettings = {
    requests: int(env, 'BENCH_E2E_REQUESTS', 1_000_000, 1, 100_000_000),
    buyers: int(env, 'BENCH_E2E_BUYERS', 200_000, 1, 100_000_000),
    units: int(env, 'BENCH_E2E_UNITS', 100_000, 1, 100_000_000),
    sales: int(env, 'BENCH_E2E_SALES', 4, 1, 100),
    perUserLimit: int(env, 'BENCH_E2E_PER_USER_LIMIT', 1, 1, 1_000_000),
    connections: int(env, 'BENCH_E2E_CONNECTIONS', 64, 1, 10_000),
    confirmTimeoutS: int(env, 'BENCH_E2E_CONFIRM_TIMEOUT_S', 300, 1, 3_600),
  };
  if (e.buyers > e.requests) throw new Error(`BENCH_E2E_BUYERS (${e.buyers}) must not exceed BENCH_E2E_REQUESTS (${e.requests}): every buyer sends at least one request`);
  if (e.units < e.sales) throw new Error(`BENCH_E2E_UNITS (${e.units}) must be at least BENCH_E2E_SALES (${e.sales}): every sale gets a unit`);
  return e;
}

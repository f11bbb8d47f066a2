// HTTP bench cases measured side by side: each server gets a warm-up run (discarded), then the
// servers of one comparison take turns for several rounds, so a burst of load from elsewhere on
// a shared machine hits both sides alike. Each case reports its median round; a comparison uses
// the rounds in pairs (report.ts pairedRatio). The turn order flips every round (A B, B A, A B…):
// a machine that speeds up or slows down during the case then favours neither side.
import { addServiceCpu, cpuSeconds, perUnitUs, serviceCpuSeconds, stackPids } from './cpu.js';
import { runWrk, requestsPerSecond, type WrkResult } from './wrk.js';

export interface HttpSettings {
  durationS: number;
  warmupS: number;
  rounds: number;
  connections: number;
  threads: number;
  /** CPU list for wrk when pinning, e.g. "0". */
  wrkCpus?: string;
}

export interface HttpTarget {
  name: string;
  url: string;
  productId: string;
  /** Server process, for its CPU time per request. */
  pid?: number;
  /** Another wrk script and its arguments (default: order.lua, POST /order). */
  script?: { file: string; args: string[] };
  /** The probe request's status instead of a POST /order (for a script on another route). */
  probe?: () => Promise<number>;
}

export interface HttpCaseResult {
  name: string;
  /** Figures of the median round (by requests per second). */
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers outside 2xx/3xx in the median round (expected for the sold-out path: 409). */
  non2xx: number;
  socketErrors: number;
  /** Status of one request sent before the run (what every request of the run is expected to get). */
  probeStatus: number;
  /** Requests per second of each round, in round order: round i of two cases ran next to each other. */
  roundsRequestsPerSecond: number[];
  /** Server CPU time per answered request over all rounds, microseconds (less sensitive to other load than req/s). */
  cpuUsPerRequest?: number;
  /** Same, plus the CPU of Redis, Kafka and PostgreSQL (the stack's processes) during the rounds. */
  systemCpuUsPerRequest?: number;
  /** Each of the stack's processes alone, µs per answered request (redis, kafka, postgres). */
  serviceCpuUsPerRequest?: Record<string, number>;
  wrk: WrkResult;
  allRounds: WrkResult[];
}

/** One POST /order with a fresh key and user, so the table can say what the run measured. */
async function probe(url: string, productId: string, nonce: string): Promise<number> {
  const res = await fetch(`${url}/order`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-idempotency-key': `probe-${nonce}` },
    body: JSON.stringify({ productId, userId: `probe-${nonce}`, quantity: 1 }),
  });
  await res.arrayBuffer();
  return res.status;
}

function perRequest(seconds: number, rounds: WrkResult[]): number | undefined {
  const requests = rounds.reduce((n, r) => n + r.requests, 0);
  return Number.isFinite(seconds) && requests > 0 ? Math.round((seconds * 1e6) / requests) : undefined;
}

const nonce = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export async function measureSideBySide(targets: HttpTarget[], s: HttpSettings, log: (m: string) => void): Promise<HttpCaseResult[]> {
  const run = (t: HttpTarget, durationS: number) =>
    runWrk({ url: t.url, productId: t.productId, connections: s.connections, threads: s.threads, cpus: s.wrkCpus, durationS, nonce: nonce(), script: t.script });
  const probes: number[] = [];
  for (const t of targets) {
    probes.push(t.probe ? await t.probe() : await probe(t.url, t.productId, nonce()));
    if (s.warmupS > 0) await run(t, s.warmupS);
  }
  const rounds: WrkResult[][] = targets.map(() => []);
  const cpu = targets.map(() => 0);
  const systemCpu = targets.map(() => 0);
  const serviceCpu = targets.map((): Record<string, number> => ({}));
  const pids = stackPids();
  const forward = [...targets.entries()];
  const backward = [...forward].reverse();
  for (let i = 0; i < s.rounds; i++) {
    for (const [k, t] of i % 2 === 0 ? forward : backward) {
      const before = cpuSeconds(t.pid);
      const stackBefore = serviceCpuSeconds(pids);
      const r = await run(t, s.durationS);
      const after = cpuSeconds(t.pid);
      const stackAfter = serviceCpuSeconds(pids);
      const own = before !== undefined && after !== undefined ? after - before : NaN;
      cpu[k]! += own;
      const stackUsed: Record<string, number> = {};
      addServiceCpu(stackUsed, stackBefore, stackAfter);
      addServiceCpu(serviceCpu[k]!, stackBefore, stackAfter);
      systemCpu[k]! += stackBefore && stackAfter ? own + Object.values(stackUsed).reduce((a, b) => a + b, 0) : NaN;
      rounds[k]!.push(r);
      log(`${t.name}: round ${i + 1}/${s.rounds}: ${Math.round(requestsPerSecond(r))} req/s, p50 ${r.latencyUs.p50 / 1000} ms, p99 ${r.latencyUs.p99 / 1000} ms, non-2xx ${r.errors.status}`);
    }
  }
  return targets.map((t, k) => {
    const all = rounds[k]!;
    const sorted = [...all].sort((a, b) => requestsPerSecond(a) - requestsPerSecond(b));
    const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
    const e = median.errors;
    return {
      name: t.name,
      requestsPerSecond: Math.round(requestsPerSecond(median)),
      p50Ms: median.latencyUs.p50 / 1000,
      p99Ms: median.latencyUs.p99 / 1000,
      non2xx: e.status,
      socketErrors: e.connect + e.read + e.write + e.timeout,
      probeStatus: probes[k]!,
      roundsRequestsPerSecond: all.map((r) => Math.round(requestsPerSecond(r))),
      cpuUsPerRequest: perRequest(cpu[k]!, all),
      systemCpuUsPerRequest: perRequest(systemCpu[k]!, all),
      serviceCpuUsPerRequest: perUnitUs(serviceCpu[k]!, all.reduce((n, r) => n + r.requests, 0)),
      wrk: median,
      allRounds: all,
    };
  });
}

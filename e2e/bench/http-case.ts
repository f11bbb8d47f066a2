// One HTTP bench case: a warm-up run (discarded), then the measured run, against a server
// already started by the caller.
import { runWrk, requestsPerSecond, type WrkResult } from './wrk.js';

export interface HttpSettings {
  durationS: number;
  warmupS: number;
  connections: number;
  threads: number;
  /** CPU list for wrk when pinning, e.g. "0". */
  wrkCpus?: string;
}

export interface HttpCaseResult {
  name: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers outside 2xx/3xx (expected for the sold-out path: 409). */
  non2xx: number;
  socketErrors: number;
  /** Status of one request sent before the run (what every request of the run is expected to get). */
  probeStatus: number;
  wrk: WrkResult;
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

export async function measureHttp(name: string, url: string, productId: string, s: HttpSettings): Promise<HttpCaseResult> {
  const base = { url, productId, connections: s.connections, threads: s.threads, cpus: s.wrkCpus };
  const nonce = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const probeStatus = await probe(url, productId, nonce);
  if (s.warmupS > 0) await runWrk({ ...base, durationS: s.warmupS, nonce: `${nonce}w` });
  const r = await runWrk({ ...base, durationS: s.durationS, nonce: `${nonce}m` });
  const e = r.errors;
  return {
    name,
    requestsPerSecond: Math.round(requestsPerSecond(r)),
    p50Ms: r.latencyUs.p50 / 1000,
    p99Ms: r.latencyUs.p99 / 1000,
    non2xx: e.status,
    socketErrors: e.connect + e.read + e.write + e.timeout,
    probeStatus,
    wrk: r,
  };
}

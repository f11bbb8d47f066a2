// Sends a flash-sale stampede at the API over keep-alive connections and records every answer.
import http from 'node:http';
import { randomUUID } from 'node:crypto';

export type Outcome = 'accepted' | 'replayed' | 'sold_out' | 'other';

export interface StampedeResult {
  counts: Record<Outcome, number>;
  /** Status codes of the 'other' answers, e.g. {"503": 3}. */
  otherStatuses: Record<string, number>;
  acceptedOrderIds: Set<string>;
  /** idempotency key -> every orderId the API answered with for it (must be exactly one). */
  orderIdsByKey: Map<string, Set<string>>;
  latenciesMs: Float64Array;
  durationMs: number;
}

interface Sent {
  key: string;
  userId: string;
}

function post(agent: http.Agent, url: URL, body: string, key: string): Promise<{ status: number; replayed: boolean; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-idempotency-key': key },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let json: any = null;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            /* non-JSON answer: counted as 'other' */
          }
          resolve({ status: res.statusCode ?? 0, replayed: res.headers['idempotent-replayed'] === 'true', json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function runStampede(o: {
  baseUrl: string;
  productId: string;
  requests: number;
  concurrency: number;
  replayPercent: number;
  onProgress?: (done: number, counts: Record<Outcome, number>) => void;
}): Promise<StampedeResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const url = new URL('/order', o.baseUrl);
  const counts: Record<Outcome, number> = { accepted: 0, replayed: 0, sold_out: 0, other: 0 };
  const otherStatuses: Record<string, number> = {};
  const acceptedOrderIds = new Set<string>();
  const orderIdsByKey = new Map<string, Set<string>>();
  const latenciesMs = new Float64Array(o.requests);
  const sent: Sent[] = [];
  let next = 0;
  let done = 0;
  let lastProgress = 0;

  const one = async (i: number) => {
    const replay = sent.length > 0 && (i * 7919) % 100 < o.replayPercent;
    const s: Sent = replay ? sent[(i * 104729) % sent.length]! : { key: randomUUID(), userId: `buyer-${i}` };
    if (!replay) sent.push(s);
    const body = JSON.stringify({ productId: o.productId, userId: s.userId, quantity: 1 });
    const t0 = performance.now();
    const r = await post(agent, url, body, s.key);
    latenciesMs[i] = performance.now() - t0;
    if (r.status === 200 && r.json?.orderId) {
      const ids = orderIdsByKey.get(s.key) ?? new Set<string>();
      ids.add(r.json.orderId);
      orderIdsByKey.set(s.key, ids);
      if (r.replayed) counts.replayed++;
      else {
        counts.accepted++;
        acceptedOrderIds.add(r.json.orderId);
      }
    } else if (r.status === 409 && r.json?.status === 'sold_out') counts.sold_out++;
    else {
      counts.other++;
      otherStatuses[r.status] = (otherStatuses[r.status] ?? 0) + 1;
    }
  };

  const started = performance.now();
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (next < o.requests) {
        const i = next++;
        await one(i);
        done++;
        if (o.onProgress && (done === o.requests || performance.now() - lastProgress > 200)) {
          lastProgress = performance.now();
          o.onProgress(done, counts);
        }
      }
    }),
  );
  const durationMs = performance.now() - started;
  agent.destroy();
  return { counts, otherStatuses, acceptedOrderIds, orderIdsByKey, latenciesMs, durationMs };
}

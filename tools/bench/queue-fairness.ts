// Fairness of the waiting room measured through the HTTP API: users join with POST /queue in a
// known order (one pipelined keep-alive connection carries the joins in that order), then every
// ticket not admitted yet is polled with GET /queue/:ticket, latest joiner first, round after round.
// Invariant checked: the serving counter only grows, so with FIFO no later joiner may be seen
// admitted before an earlier one's poll that came after it still says waiting (an inversion).
// Used by npm run bench (tools/bench/queue-http.ts, 20,000 users) and e2e/api/queue.test.ts (2,000).
import { PipelinedClient } from './pipelined-http.js';

export interface Joined {
  tickets: string[];
  /** Join numbers the signed tickets carry (the place Redis handed out), in join order. */
  numbers: number[];
  joinsPerSecond: number;
}

/** The join number a ticket carries (its payload is signed, not secret: "<kid>.<base64url JSON>.<mac>"). */
export function ticketNumber(ticket: string): number {
  return Number(JSON.parse(Buffer.from(ticket.split('.')[1]!, 'base64url').toString('utf8')).n);
}

/** Joins users[0], users[1], ... in that order over one pipelined connection. */
export async function joinInOrder(base: string, productId: string, users: string[], window = 64): Promise<Joined> {
  const c = new PipelinedClient(base);
  try {
    const t0 = performance.now();
    const res = await c.all(users.length, (i) => ['POST', '/queue', { productId, userId: users[i] }], window);
    const seconds = (performance.now() - t0) / 1000;
    const tickets = res.map((r, i) => {
      if (r.status !== 200) throw new Error(`POST /queue for ${users[i]} answered ${r.status}: ${r.body}`);
      return JSON.parse(r.body).ticket as string;
    });
    return { tickets, numbers: tickets.map(ticketNumber), joinsPerSecond: Math.round(users.length / seconds) };
  } finally {
    c.close();
  }
}

export interface Rounds {
  /** Round in which each ticket was first seen admitted (join order). */
  round: number[];
  /** Later joiners (outside the shuffled early group) seen admitted while an earlier one still waited. */
  inversions: number;
  polls: number;
  pollsPerSecond: number;
}

/**
 * Polls every ticket not admitted yet, latest joiner first, round after round, until all are admitted
 * (or the deadline). earlyGroup: the first tickets form a randomized start's shuffled group.
 */
export async function admissionRounds(base: string, tickets: string[], earlyGroup = 0, deadlineMs = 300_000, window = 64): Promise<Rounds> {
  const c = new PipelinedClient(base);
  const round = tickets.map(() => -1);
  let inversions = 0;
  let polls = 0;
  const t0 = performance.now();
  const deadline = Date.now() + deadlineMs;
  try {
    for (let r = 0; round.includes(-1); r++) {
      if (Date.now() > deadline) throw new Error(`admission did not progress: ${round.filter((x) => x === -1).length} of ${tickets.length} never admitted`);
      if (r > 0) await new Promise((res) => setTimeout(res, 20));
      const order: number[] = [];
      for (let i = tickets.length - 1; i >= 0; i--) if (round[i] === -1) order.push(i);
      const res = await c.all(order.length, (k) => ['GET', `/queue/${tickets[order[k]!]}`], window);
      polls += order.length;
      let admittedLater = 0;
      for (const [k, i] of order.entries()) {
        const { status, body } = res[k]!;
        const state = status === 200 ? (JSON.parse(body).state as string) : `HTTP ${status}`;
        if (state === 'admitted') {
          round[i] = r;
          if (i >= earlyGroup) admittedLater++;
        } else if (state === 'waiting') {
          inversions += admittedLater;
        } else {
          throw new Error(`ticket ${i}: poll answered ${state}: ${body}`);
        }
      }
    }
  } finally {
    c.close();
  }
  return { round, inversions, polls, pollsPerSecond: Math.round(polls / ((performance.now() - t0) / 1000)) };
}

/** Pairs (i < j) with a[j] < a[i]: 0 for a non-decreasing sequence. */
export function countInversions(a: number[]): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) for (let j = i + 1; j < a.length; j++) if (a[j]! < a[i]!) n++;
  return n;
}

/** Adjacent descents (a random order of n has about (n - 1) / 2; a sorted one none). */
export function descents(a: number[]): number {
  let n = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! < a[i - 1]!) n++;
  return n;
}

// Isolating the message PostgreSQL refuses: a batch that fails deterministically (a data or
// constraint error: the same rows fail the same way every time) is split in halves, in offset
// order, until the failing message stands alone; it is then refused (the caller dead-letters it)
// and every other message is stored. Anything else (connection lost, serialization failure, admin
// shutdown, timeout) is transient: the same slice is retried with backoff, never split.
//
// Allocation stays in offset order: the halves are persisted one after the other, each deciding
// against what the previous one committed, exactly as the whole batch would have.
import { ABORTED } from './retry.js';

/** SQLSTATE classes that depend only on the rows: 22 data exception, 23 integrity constraint violation. */
const DETERMINISTIC_CLASSES = new Set(['22', '23']);

export function isDeterministic(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length === 5 && DETERMINISTIC_CLASSES.has(code.slice(0, 2));
}

export interface Refused {
  /** Index of the message in the slice given to persistBisecting. */
  index: number;
  reason: string;
}

class Deterministic {
  constructor(readonly err: Error & { code: string }) {}
}

/**
 * Persists `items` (through `retry`, which retries transient errors and returns ABORTED on shutdown),
 * splitting on deterministic errors. Returns the results of the slices stored and the refused items,
 * or ABORTED (what was stored stays stored: a redelivery finds it and skips it).
 */
export async function persistBisecting<T, R>(
  items: readonly T[],
  persist: (slice: readonly T[]) => Promise<R>,
  retry: (op: () => Promise<R | Deterministic>) => Promise<R | Deterministic | typeof ABORTED>,
): Promise<{ results: R[]; refused: Refused[] } | typeof ABORTED> {
  const results: R[] = [];
  const refused: Refused[] = [];
  const attempt = (slice: readonly T[]) =>
    retry(async () => {
      try {
        return await persist(slice);
      } catch (err) {
        if (isDeterministic(err)) return new Deterministic(err);
        throw err;
      }
    });
  async function run(lo: number, hi: number): Promise<boolean> {
    // The whole batch is passed as itself, not a copy (persist-batch.ts knows its prepared form).
    const out = await attempt(lo === 0 && hi === items.length ? items : items.slice(lo, hi));
    if (out === ABORTED) return false;
    if (!(out instanceof Deterministic)) {
      results.push(out);
      return true;
    }
    if (hi - lo === 1) {
      refused.push({ index: lo, reason: `PostgreSQL refused the order (SQLSTATE ${out.err.code}): ${out.err.message}` });
      return true;
    }
    const mid = lo + Math.ceil((hi - lo) / 2);
    return (await run(lo, mid)) && (await run(mid, hi));
  }
  if (items.length > 0 && !(await run(0, items.length))) return ABORTED;
  return { results, refused };
}

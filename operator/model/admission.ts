// status.admission of a queued sale: the waiting room's figures as Redis holds them now, the
// admission rate measured since the previous reading, and the wait at the back of the line.
// Unchanged figures keep the previous block (observedAt included), so a quiet queue writes no status.
import { isQueued } from '../../core/redis/queue.js';
import type { SaleStep } from './context.js';
import type { FlashSaleStatus } from './types.js';

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export function admissionStatus(st: SaleStep): FlashSaleStatus['admission'] {
  const q = st.r.queue;
  if (!isQueued(st.wanted.admission.mode) || !q) return undefined;
  const p = st.prev.admission;
  if (p && p.waiting === q.waiting && p.admitted === q.admitted) return p;
  const seconds = p ? (st.o.now.getTime() - Date.parse(p.observedAt)) / 1000 : 0;
  const rate = st.wanted.admission.ratePerSecond ?? 0;
  return {
    waiting: q.waiting,
    admitted: q.admitted,
    // A queue lost with Redis restarts at 0: no negative rate.
    rateMeasured: p && seconds > 0 && q.admitted >= p.admitted ? round((q.admitted - p.admitted) / seconds, 2) : 0,
    estimatedWaitSeconds: rate > 0 ? round(q.waiting / rate, 1) : 0,
    observedAt: st.o.now.toISOString(),
  };
}

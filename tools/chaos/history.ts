// The data the checker judges: what the clients saw (every request and its answer), what the
// harness did (faults, spec changes), and the final rows and keys read from PostgreSQL and Redis.
// Invariant: nothing here comes from the code under test's own reports (status, metrics, logs).

/** How a request ended, as a client sees it: an HTTP status, or a transport failure. */
export type Outcome = number | 'timeout' | 'reset' | 'refused' | 'error';

/** One HTTP request of a buyer and its answer. */
export interface Attempt {
  /** Run-relative milliseconds when the request was sent and when its answer (or failure) arrived. */
  t0: number;
  t1: number;
  /** Which API process it went to. */
  api: string;
  productId: string;
  userId: string;
  key: string;
  quantity: number;
  outcome: Outcome;
  /** The body's status field (success, sold_out, recovering…), when there was a body. */
  answer?: string;
  orderId?: string;
  replayed?: boolean;
}

/** One injected fault: [t, tEnd] is when it was active (tEnd = t for an instant one, like SIGKILL). */
export interface Fault {
  t: number;
  tEnd: number;
  kind: string;
  target: string;
  /** Free text for the report: the seed step, the pid, the new stock… */
  detail?: string;
  /** False when the harness could not inject it (the target was already down…). */
  injected: boolean;
}

/** What the harness asked of a sale, in order: the spec we wrote is the allocation we expect. */
export interface SaleSpec {
  name: string;
  productId: string;
  /** spec.stock as finally written (after every raise and lowering). */
  stock: number;
  perUser: number;
  /** Run-relative ms of the last restock after the faults ended (the liveness clock starts there). */
  restockAt?: number;
}

/** A row of the orders table, as read at quiescence. */
export interface PgOrder {
  id: string;
  productId: string;
  userId: string;
  key: string;
  quantity: number;
  status: 'confirmed' | 'rejected';
  rejectReason: string | null;
}

export interface PgProduct {
  id: string;
  stock: number;
  initialStock: number;
}

/** The sale's keys in Redis at quiescence (the stock key; null when missing). */
export interface RedisSale {
  productId: string;
  stock: number | null;
}

export interface FinalState {
  orders: PgOrder[];
  products: PgProduct[];
  redis: RedisSale[];
  /** Whether the harness reached quiescence (Kafka lag 0, nothing pending) before reading. */
  quiescent: boolean;
}

export interface RunRecord {
  seed: number;
  startedAt: string;
  /** Run-relative ms at which the last fault was healed. */
  healedAt: number;
  endedAt: number;
  attempts: Attempt[];
  faults: Fault[];
  sales: SaleSpec[];
  final: FinalState;
}

// The Flux-Gate demo: open a sale, send a flash-sale stampede through the real API, let the
// worker drain Kafka into PostgreSQL, then check the guarantees and print a report.
// Expects REDIS_URL, DATABASE_URL and KAFKA_BROKERS (scripts/demo.sh takes them from the stack).
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startComponent, type RunningProcess } from '../../e2e/support/processes.js';
import { runStampede, type Outcome } from './stampede.js';
import { checkInvariants, formatReport } from './report.js';

const USAGE = `usage: npm run demo -- [--requests N] [--stock N] [--concurrency N] [--replay-percent P]
  --requests        requests in the stampede (default 20000, 1..1000000)
  --stock           items for sale (default 500, 1..1000000)
  --concurrency     requests in flight at once (default 200, 1..2000)
  --replay-percent  share of requests that retry an earlier idempotency key (default 5, 0..50)`;

function intOption(values: Record<string, string | boolean | undefined>, name: string, def: number, min: number, max: number): number {
  const raw = values[name];
  if (raw === undefined) return def;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new Error(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}\n${USAGE}`);
  }
  return n;
}

function options() {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string' },
      stock: { type: 'string' },
      concurrency: { type: 'string' },
      'replay-percent': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    requests: intOption(values, 'requests', 20_000, 1, 1_000_000),
    stock: intOption(values, 'stock', 500, 1, 1_000_000),
    concurrency: intOption(values, 'concurrency', 200, 1, 2_000),
    replayPercent: intOption(values, 'replay-percent', 5, 0, 50),
  };
}

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the demo with "npm run demo" (it starts the local stack)`);
  return v;
}

async function waitForDrain(pool: pg.Pool, productId: string, acceptedCount: number, worker: RunningProcess): Promise<number> {
  const deadline = Date.now() + 180_000;
  let stored = 0;
  while (Date.now() < deadline) {
    const r = await pool.query<{ n: string }>('SELECT count(*) AS n FROM orders WHERE product_id = $1', [productId]);
    stored = Number(r.rows[0]?.n ?? 0);
    process.stdout.write(`\rdemo: worker persisted ${stored}/${acceptedCount} accepted orders   `);
    if (stored >= acceptedCount) break;
    if (worker.child.exitCode !== null) throw new Error(`worker exited with ${worker.child.exitCode}:\n${worker.lines.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  process.stdout.write('\n');
  return stored;
}

async function main() {
  const opts = options();
  const env = {
    REDIS_URL: requireEnv('REDIS_URL'),
    DATABASE_URL: requireEnv('DATABASE_URL'),
    KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
  };
  const adminToken = randomBytes(24).toString('hex');
  const productId = `demo-phone-${Date.now().toString(36)}`;
  const children: RunningProcess[] = [];
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
  try {
    console.log('demo: applying migrations');
    const migrate = await startComponent('migrate', env, { waitReady: false });
    const migrateCode = await migrate.exited;
    if (migrateCode !== 0) throw new Error(`migrate failed (${migrateCode}):\n${migrate.lines.join('\n')}`);

    console.log('demo: starting api and worker');
    // allSettled: when one fails to start, the other is still tracked and stopped in finally.
    const started = await Promise.allSettled([
      startComponent('api', { ...env, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: adminToken }),
      startComponent('worker', { ...env, METRICS_PORT: '0' }),
    ]);
    for (const s of started) if (s.status === 'fulfilled') children.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const [api, worker] = children as [RunningProcess, RunningProcess];
    const base = `http://127.0.0.1:${api.port}`;

    console.log(`demo: opening sale ${productId} with ${opts.stock} items, 1 per user`);
    const init = await fetch(`${base}/init`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ productId, quantity: opts.stock, perUserLimit: 1 }),
    });
    if (!init.ok) throw new Error(`POST /init answered ${init.status}: ${await init.text()}`);

    console.log(`demo: stampede of ${opts.requests} requests, ${opts.concurrency} in flight`);
    const result = await runStampede({
      baseUrl: base,
      productId,
      requests: opts.requests,
      concurrency: opts.concurrency,
      replayPercent: opts.replayPercent,
      onProgress: (done, counts) => {
        const c = counts as Record<Outcome, number>;
        process.stdout.write(
          `\r  ${done}/${opts.requests}  accepted ${c.accepted}  sold_out ${c.sold_out}  replayed ${c.replayed}  other ${c.other}   `,
        );
      },
    });
    process.stdout.write('\n');

    const stored = await waitForDrain(pool, productId, result.acceptedOrderIds.size, worker);
    const check = await checkInvariants(pool, productId, opts.stock, result);
    console.log(formatReport({ ...result, stored, check, stock: opts.stock }));
    if (check.failures.length) {
      console.error(`demo: INVARIANT FAILED:\n  - ${check.failures.join('\n  - ')}`);
      process.exitCode = 1;
    } else {
      console.log('demo: all invariants hold (no oversell, no lost order, no duplicate)');
    }
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await pool.end();
  }
}

main().catch((err) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

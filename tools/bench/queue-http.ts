// The waiting room's bench cases through the HTTP API (our built API process, the stack's Redis and
// PostgreSQL): fairness at 20,000 users joined in a known order (FIFO, then a randomized start),
// and GET /queue/:ticket throughput side by side with bare Fastify in the same run (target >= 60 %).
// Prints a table and writes results/queue-http-<time>.json and results/queue-http-latest.json.
// Run: eval "$(npm run -s stack:env)" && npx tsx tools/bench/queue-http.ts
// (BENCH_QUEUE_SHORT=1: 2,000 users; BENCH_DURATION_S / BENCH_ROUNDS / BENCH_WARMUP_S / BENCH_CONNECTIONS / BENCH_CPU_PROF
// as for run.ts; BENCH_QUEUE_ONLY=pollVsBareFastify (comma-separated case names): only those cases;
// BENCH_QUEUE_CLI=<checkout>/dist/cli.js: measure that build's API, e.g. main's, for a before/after).
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { CLI, type RunningProcess } from '../../e2e/support/processes.js';
import { measureSideBySide } from './http-case.js';
import { PipelinedClient } from './pipelined-http.js';
import { admissionRounds, countInversions, descents, joinInOrder } from './queue-fairness.js';
import { cpuRatio, machine, ratio, round2 } from './report.js';
import { startBenchScript, startOurs } from './processes.js';
import { loadSettings } from './settings.js';

const TARGET_POLL_VS_BARE = 0.6;
const ADMIN_TOKEN = 'bench-admin-token-not-secret';
const SIGNING_KEYS = 'bench:bench-signing-key-not-secret-0123456789abcdef';
const short = process.env.BENCH_QUEUE_SHORT === '1';
const USERS = Number(process.env.BENCH_QUEUE_HTTP_USERS ?? (short ? 2_000 : 20_000));
const s = loadSettings({ ...process.env, BENCH_ONLY: '' });
const services = Object.fromEntries(['REDIS_URL', 'DATABASE_URL', 'KAFKA_BROKERS'].map((n) => {
  const v = process.env[n];
  if (!v) throw new Error(`bench: ${n} is not set; run eval "$(npm run -s stack:env)" first`);
  return [n, v];
})) as Record<'REDIS_URL' | 'DATABASE_URL' | 'KAFKA_BROKERS', string>;
const nonce = Date.now().toString(36);
const startedAt = new Date().toISOString();
const machineInfo = machine();
const log = (m: string) => process.stderr.write(`bench queue-http: ${m}\n`);
const redis = new Redis(services.REDIS_URL);
const products: string[] = [];
const notes: string[] = [];
const results: Record<string, unknown> = {};

async function init(api: RunningProcess, suffix: string, admission: object, startsAt?: Date): Promise<string> {
  const productId = `bench-qh-${nonce}-${suffix}`;
  products.push(productId);
  const res = await fetch(`http://127.0.0.1:${api.port}/init`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ productId, quantity: 1_000_000_000, admission, ...(startsAt ? { startsAt: startsAt.toISOString() } : {}) }),
  });
  if (!res.ok) throw new Error(`POST /init ${productId} answered ${res.status}: ${await res.text()}`);
  return productId;
}

const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** FIFO: USERS join in a known order; admission order = join order; one place each. */
async function fifo(api: RunningProcess, base: string) {
  const productId = await init(api, 'fifo', { mode: 'queue', ratePerSecond: Math.ceil(USERS / 10), tokenTtlSeconds: 3600 });
  const who = users('u', USERS);
  const joined = await joinInOrder(base, productId, who);
  log(`fifo: ${USERS} joined at ${joined.joinsPerSecond}/s`);
  const t0 = Date.now();
  const r = await admissionRounds(base, joined.tickets, 0, 600_000);
  const numberedInOrder = joined.numbers.every((n, i) => n === i + 1);
  const duplicatePlaces = USERS - new Set(joined.numbers).size;
  const queueEntries = await redis.hlen(`fg:{${productId}}:q`);
  const again = await joinInOrder(base, productId, who.slice(0, 1000));
  const rejoinSameTicket = again.tickets.every((t, i) => t === joined.tickets[i]);
  return {
    users: USERS, joinsPerSecond: joined.joinsPerSecond, numberedInJoinOrder: numberedInOrder,
    inversions: r.inversions, roundInversions: countInversions(r.round), rounds: Math.max(...r.round) + 1,
    polls: r.polls, pollsPerSecond: r.pollsPerSecond, admissionSeconds: seconds(Date.now() - t0),
    duplicatePlaces, queueEntries, rejoinSameTicket,
  };
}

/** Randomized start: USERS/2 join before the start (shuffled), USERS/10 after (FIFO, behind them). */
async function randomized(api: RunningProcess, base: string, joinsPerSecond: number) {
  const nEarly = USERS / 2;
  const nLate = USERS / 10;
  // Lead time: every early join must land before the start, even if joins run at half the FIFO case's pace.
  const startsAt = new Date(Date.now() + Math.ceil((nEarly / Math.max(1, joinsPerSecond)) * 2000) + 5000);
  const productId = await init(api, 'random', { mode: 'queue-randomized-start', ratePerSecond: Math.ceil((nEarly + nLate) / 10), tokenTtlSeconds: 3600 }, startsAt);
  const early = await joinInOrder(base, productId, users('e', nEarly));
  const allEarly = Date.now() < startsAt.getTime();
  await new Promise((r) => setTimeout(r, Math.max(0, startsAt.getTime() - Date.now() + 500)));
  const late = await joinInOrder(base, productId, users('l', nLate));
  const r = await admissionRounds(base, [...early.tickets, ...late.tickets], nEarly, 600_000);
  const earlyRounds = r.round.slice(0, nEarly);
  const lateRounds = r.round.slice(nEarly);
  return {
    early: nEarly, late: nLate, earlyJoinedBeforeStart: allEarly,
    inversions: r.inversions,
    earlyRoundDescents: descents(earlyRounds), earlyRounds: Math.max(...earlyRounds) + 1,
    lateRoundInversions: countInversions(lateRounds),
    everyEarlyBeforeLate: Math.min(...lateRounds) >= Math.max(...earlyRounds),
    duplicatePlaces: nEarly + nLate - new Set([...early.numbers, ...late.numbers]).size,
  };
}

/** GET /queue/:ticket of waiting tickets (one Redis key each) vs bare Fastify's route, side by side. */
async function pollThroughput(api: RunningProcess, base: string) {
  const productId = await init(api, 'poll', { mode: 'queue', ratePerSecond: 1, tokenTtlSeconds: 3600 }, new Date(Date.now() + 3_600_000));
  const joined = await joinInOrder(base, productId, users('p', 1000));
  const file = join(tmpdir(), `fluxgate-bench-tickets-${nonce}.txt`);
  writeFileSync(file, joined.tickets.join('\n') + '\n');
  const bare = await startBenchScript('./bare-fastify.ts', {});
  try {
    const status = async (url: string) => {
      const c = new PipelinedClient(url);
      try {
        const r = await c.request('GET', `/queue/${joined.tickets[0]}`);
        return r.status === 200 && JSON.parse(r.body).state === 'waiting' ? 200 : r.status;
      } finally {
        c.close();
      }
    };
    const bareUrl = `http://127.0.0.1:${bare.port}`;
    const [ours, b] = await measureSideBySide(
      [
        { name: 'our API, GET /queue/:ticket (waiting)', url: base, productId, pid: api.child.pid, script: { file: 'poll.lua', args: [file] }, probe: () => status(base) },
        { name: 'bare Fastify, GET /queue/:ticket', url: bareUrl, productId, pid: bare.child.pid, script: { file: 'poll.lua', args: [file] }, probe: () => status(bareUrl) },
      ],
      s,
      log,
    );
    const row = (c: typeof ours) => ({ name: c!.name, requestsPerSecond: c!.requestsPerSecond, p50Ms: c!.p50Ms, p99Ms: c!.p99Ms, rounds: c!.roundsRequestsPerSecond, cpuUsPerRequest: c!.cpuUsPerRequest, probeStatus: c!.probeStatus, non2xx: c!.non2xx, socketErrors: c!.socketErrors });
    // Judged on the paired rounds, as the other HTTP comparisons (report.ts ratio).
    const vs = ratio('GET /queue/:ticket: our API vs bare Fastify', ours!, b!, TARGET_POLL_VS_BARE, true);
    const byCpu = cpuRatio('GET /queue/:ticket: our API vs bare Fastify', ours!.cpuUsPerRequest, b!.cpuUsPerRequest, b!.name, 'request', TARGET_POLL_VS_BARE, true);
    for (const c of [ours!, b!]) if (c.probeStatus !== 200 || c.non2xx > 0 || c.socketErrors > 0) notes.push(`${c.name}: probe ${c.probeStatus}, ${c.non2xx} non-2xx, ${c.socketErrors} socket errors: not every poll got a waiting answer`);
    return { ours: row(ours), bare: row(b), ratio: vs.value, shown: vs.shown, cpuRatio: byCpu?.value, cpuShown: byCpu?.shown, cpuPass: byCpu?.pass, target: `>= ${TARGET_POLL_VS_BARE * 100} %`, pass: vs.pass };
  } finally {
    await bare.stop();
  }
}

let failed = false;
let api: RunningProcess | undefined;
try {
  await promisify(execFile)(process.execPath, [CLI, 'migrate'], { env: { ...process.env, ...services } });
  api = await startOurs('api', { ...services, PORT: '0', METRICS_PORT: '0', METRICS_HOST: '127.0.0.1', ADMIN_TOKEN, ADMISSION_SIGNING_KEYS: SIGNING_KEYS, ORDERS_TOPIC: `bench.${nonce}.queue` }, process.env.BENCH_QUEUE_CLI || CLI);
  const base = `http://127.0.0.1:${api.port}`;
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['fairnessQueue', () => fifo(api!, base)],
    ['fairnessRandomizedStart', () => randomized(api!, base, (results.fairnessQueue as { joinsPerSecond?: number } | undefined)?.joinsPerSecond ?? 500)],
    ['pollVsBareFastify', () => pollThroughput(api!, base)],
  ];
  const only = process.env.BENCH_QUEUE_ONLY?.split(',').filter(Boolean);
  const unknown = only?.filter((n) => !cases.some(([c]) => c === n)) ?? [];
  if (unknown.length) throw new Error(`BENCH_QUEUE_ONLY: no case ${unknown.join(', ')} (cases: ${cases.map(([c]) => c).join(', ')})`);
  for (const [name, run] of cases) {
    if (only && !only.includes(name)) continue;
    try {
      log(`${name}: running`);
      results[name] = await run();
    } catch (err) {
      failed = true;
      notes.push(`case ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
} finally {
  await api?.stop();
  for (const p of products) {
    const stream = redis.scanStream({ match: `fg:{${p}}:*`, count: 1000 });
    for await (const keys of stream) if ((keys as string[]).length) await redis.unlink(...(keys as string[]));
  }
  redis.disconnect();
}

const report = {
  startedAt, finishedAt: new Date().toISOString(),
  machine: { ...machineInfo, loadAverage1mAtEnd: round2(loadavg()[0]!) },
  settings: { users: USERS, short, durationS: s.durationS, rounds: s.rounds, warmupS: s.warmupS, connections: s.connections, generator: 'joins and fairness polls: one pipelined keep-alive connection (tools/bench/pipelined-http.ts); throughput: wrk + tools/bench/poll.lua' },
  results, notes,
};
const f = results.fairnessQueue as Record<string, unknown> | undefined;
const rnd = results.fairnessRandomizedStart as Record<string, unknown> | undefined;
const p = results.pollVsBareFastify as { ours: { requestsPerSecond: number; p99Ms: number; cpuUsPerRequest?: number }; bare: { requestsPerSecond: number; p99Ms: number; cpuUsPerRequest?: number }; ratio: number; shown: string; cpuRatio?: number; cpuShown?: string; cpuPass?: boolean; pass: boolean } | undefined;
const rows: string[][] = [
  ['fairness, `queue`: joins through POST /queue in a known order', f ? `${f.users} users (${f.joinsPerSecond} joins/s): ${f.inversions} inversions, ${f.duplicatePlaces} duplicate places, ${f.queueEntries} queue entries, rejoin same ticket: ${f.rejoinSameTicket}` : 'failed', '0 inversions, one place each', f ? (f.inversions === 0 && f.duplicatePlaces === 0 && f.numberedInJoinOrder ? 'PASS' : 'MISS') : 'MISS'],
  ['fairness, `queue-randomized-start`', rnd ? `${rnd.early} early: ${rnd.earlyRoundDescents} round descents over ${rnd.earlyRounds} rounds; ${rnd.late} late: ${rnd.lateRoundInversions} inversions; every early before late: ${rnd.everyEarlyBeforeLate}; ${rnd.inversions} inversions` : 'failed', 'early permuted, late FIFO', rnd ? (rnd.inversions === 0 && rnd.lateRoundInversions === 0 && rnd.everyEarlyBeforeLate && Number(rnd.earlyRoundDescents) > 0 && rnd.earlyJoinedBeforeStart ? 'PASS' : 'MISS') : 'MISS'],
  ['GET /queue/:ticket: our API vs bare Fastify (req/s)', p ? `${p.ours.requestsPerSecond} vs ${p.bare.requestsPerSecond} req/s (p99 ${p.ours.p99Ms} vs ${p.bare.p99Ms} ms) = ${p.shown}` : 'failed', `>= ${TARGET_POLL_VS_BARE * 100} %`, p ? (p.pass ? 'PASS' : 'MISS') : 'MISS'],
  ['same, by CPU per request (informational)', p?.cpuShown !== undefined ? `${p.ours.cpuUsPerRequest} vs ${p.bare.cpuUsPerRequest} µs/req = ${p.cpuShown}` : '-', `>= ${TARGET_POLL_VS_BARE * 100} %`, p?.cpuShown !== undefined ? (p.cpuPass ? '(pass)' : '(miss)') : '-'],
];
const widths = [0, 1, 2, 3].map((i) => Math.max(...[['case', 'measured', 'target', 'result'], ...rows].map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log([line(['case', 'measured', 'target', 'result']), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
console.log(`load average (1 min): ${report.machine.loadAverage1mAtStart} at start, ${report.machine.loadAverage1mAtEnd} at end, on ${machineInfo.cpus} CPUs` +
  (report.machine.loadAverage1mAtStart > 1 ? ' (other work competes with the bench: read the ratio, not the absolute figures)' : ''));
for (const n of notes) console.log(`note: ${n}`);
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const path = `${dir}queue-http-${startedAt.replace(/[:.]/g, '-')}.json`;
writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(`${dir}queue-http-latest.json`, `${JSON.stringify(report, null, 2)}\n`);
console.log(`results written to ${path}`);
if (failed) process.exitCode = 1;

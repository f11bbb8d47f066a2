// Runs wrk (Debian package) with order.lua (or another script printing the same BENCH_JSON line,
// e.g. poll.lua) and parses the one JSON line the script prints.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./order.lua', import.meta.url));

export interface WrkResult {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { min: number; mean: number; max: number; p50: number; p90: number; p99: number; p999: number };
}

export interface WrkOptions {
  url: string;
  productId: string;
  durationS: number;
  connections: number;
  threads: number;
  /** CPU list for taskset, e.g. "0"; undefined = not pinned. */
  cpus?: string;
  /** Unique per run, so idempotency keys never repeat across runs on the same Redis. */
  nonce: string;
  /** Another wrk script of this folder and its arguments (default: order.lua with productId and nonce). */
  script?: { file: string; args: string[] };
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const wrkArgs = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.durationS}s`, '--timeout', '5s',
    '-s', o.script ? fileURLToPath(new URL(`./${o.script.file}`, import.meta.url)) : SCRIPT, o.url, '--', ...(o.script ? o.script.args : [o.productId, o.nonce])];
  const [cmd, args] = o.cpus === undefined ? ['wrk', wrkArgs] : ['taskset', ['-c', o.cpus, 'wrk', ...wrkArgs]];
  const { stdout } = await run(cmd, args, { maxBuffer: 1 << 20 }).catch((err: NodeJS.ErrnoException) => {
    // Run without scripts/bench.sh, which installs it: say what is missing and how to get it.
    if (err.code === 'ENOENT') throw new Error(`${cmd} not found on PATH: run the bench with \`npm run bench\` (it installs wrk), or \`apt-get install wrk\``);
    throw err;
  });
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`wrk printed no BENCH_JSON line:\n${stdout}`);
  return JSON.parse(line.slice('BENCH_JSON '.length)) as WrkResult;
}

export function requestsPerSecond(r: WrkResult): number {
  return r.requests / (r.durationUs / 1e6);
}

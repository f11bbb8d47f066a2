// CPU time used by processes (Linux /proc), so the bench can report CPU per request or per order:
// a figure other load on a shared machine distorts far less than requests per second.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux (getconf CLK_TCK)

interface Stat {
  ppid: number;
  /** utime + stime, seconds. */
  own: number;
  /** cutime + cstime (reaped children), seconds. */
  children: number;
}

/** A process's /proc/<pid>/stat, or one thread's /proc/<pid>/task/<tid>/stat (same format). */
function statAt(file: string): (Stat & { name: string }) | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(f[i]) / CLOCK_TICKS_PER_SECOND;
    return { name: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), ppid: Number(f[1]), own: n(11) + n(12), children: n(13) + n(14) };
  } catch {
    return undefined;
  }
}

const stat = (pid: number) => statAt(`/proc/${pid}/stat`);

/** CPU seconds (all threads) a process has used so far; undefined when it is gone or off Linux. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : stat(pid)?.own;
}

/**
 * CPU seconds used so far by those threads of a process whose name matches (Linux
 * /proc/<pid>/task/<tid>/stat), e.g. a JVM's "C2 CompilerThre…" threads; undefined when it is gone.
 */
export function threadCpuSeconds(pid: number, name: RegExp): number | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let total = 0;
  for (const tid of tids) {
    const t = statAt(`/proc/${pid}/task/${tid}/stat`); // undefined: the thread ended meanwhile
    if (t && name.test(t.name)) total += t.own;
  }
  return total;
}

/** CPU seconds of a process, its live children and its reaped children (PostgreSQL backends). */
export function treeCpuSeconds(pid: number): number | undefined {
  const root = stat(pid);
  if (!root) return undefined;
  let total = root.own + root.children;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s && s.ppid === pid) total += s.own;
  }
  return total;
}

/** Pids of the local stack's services (from FLUXGATE_STACK_STATE), for their CPU time. */
export function stackPids(stateDir = process.env.FLUXGATE_STACK_STATE): Record<string, number> {
  const pids: Record<string, number> = {};
  if (!stateDir) return pids;
  for (const name of ['redis', 'postgres', 'kafka']) {
    try {
      const pid = Number(readFileSync(join(stateDir, `${name}.pid`), 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0) pids[name] = pid;
    } catch {
      /* service not started by this stack */
    }
  }
  return pids;
}

/** CPU seconds of each of the stack's services (Redis, the PostgreSQL tree, Kafka); undefined if one is gone. */
export function serviceCpuSeconds(pids: Record<string, number>): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    const s = treeCpuSeconds(pid);
    if (s === undefined) return undefined;
    out[name] = s;
  }
  return Object.keys(out).length ? out : undefined;
}

/** CPU seconds of the stack's services together (Redis + PostgreSQL tree + Kafka). */
export function stackCpuSeconds(pids: Record<string, number>): number | undefined {
  const each = serviceCpuSeconds(pids);
  return each && Object.values(each).reduce((a, b) => a + b, 0);
}

/** Per-service CPU used between two readings of serviceCpuSeconds, added into `into` (seconds). */
export function addServiceCpu(into: Record<string, number>, before: Record<string, number> | undefined, after: Record<string, number> | undefined): void {
  if (!before || !after) return;
  for (const name of Object.keys(after)) into[name] = (into[name] ?? 0) + after[name]! - (before[name] ?? after[name]!);
}

/** µs per unit of work for each service, from seconds used and units done. */
export function perUnitUs(seconds: Record<string, number>, units: number): Record<string, number> | undefined {
  if (!(units > 0) || Object.keys(seconds).length === 0) return undefined;
  return Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Math.round((v * 1e6 * 10) / units) / 10]));
}

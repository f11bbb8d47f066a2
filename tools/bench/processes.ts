// Bench-only process helpers: start a TypeScript bench server (naive API, bare Fastify, ...)
// the way startComponent starts the built CLI, and pin processes to CPUs with taskset.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLI, startComponent, startNodeProcess, type RunningProcess } from '../../e2e/support/processes.js';

const TSX_LOADER = 'tsx';

/** Runs `node --import tsx <file>` from tools/bench and waits for its {"msg":"ready"} line. */
export function startBenchScript(file: string, env: Record<string, string | undefined>): Promise<RunningProcess> {
  return startNode(file, ['--import', TSX_LOADER, fileURLToPath(new URL(file, import.meta.url))], env);
}

/** Runs node with the given arguments (e.g. --cpu-prof before the script) and waits for its ready line. */
export function startNode(
  file: string,
  nodeArgs: string[],
  env: Record<string, string | undefined>,
  readyTimeoutMs = 60_000,
): Promise<RunningProcess> {
  return startNodeProcess(file, nodeArgs, env, { readyTimeoutMs, maxLines: 10_000 });
}

/**
 * Starts our API or worker from the built CLI (or another checkout's, cli). BENCH_CPU_PROF=<dir>: it
 * writes a V8 CPU profile there on exit (summarize with `npx tsx tools/bench/profile-top.ts <file>`).
 */
export function startOurs(command: 'api' | 'worker', env: Record<string, string>, cli = CLI): Promise<RunningProcess> {
  const profDir = process.env.BENCH_CPU_PROF;
  if (!profDir && cli === CLI) return startComponent(command, env);
  const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${command}-${Date.now()}.cpuprofile`] : [];
  return startNode(command, [...prof, cli, command], { LOG_LEVEL: 'info', ...env });
}

/** Pins every thread of a running process to the given CPU list (e.g. "1"); no-op when cpus is undefined. */
export function pinProcess(pid: number | undefined, cpus: string | undefined): void {
  if (pid === undefined || cpus === undefined) return;
  execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
}

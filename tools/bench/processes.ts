// Bench-only process helpers: start a TypeScript bench server (naive API, bare Fastify, ...)
// the way startComponent starts the built CLI, and pin processes to CPUs with taskset.
import { execFileSync } from 'node:child_process';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, startComponent, startNodeProcess, type RunningProcess } from '../../e2e/support/processes.js';

const TSX_LOADER = 'tsx';

/**
 * Runs `node --import tsx <file>` from tools/bench and waits for its {"msg":"ready"} line. With
 * BENCH_CPU_PROF=<dir> it writes a CPU profile there too, so ours and its baseline (bare Fastify,
 * the naive API) can be compared frame by frame.
 */
export function startBenchScript(file: string, env: Record<string, string | undefined>): Promise<RunningProcess> {
  // A folder of its own, with node's default file names: tsx's loader runs on a second thread,
  // whose profile would overwrite the main thread's under one --cpu-prof-name (the main thread's is the larger file).
  const dir = process.env.BENCH_CPU_PROF;
  const prof = dir ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, `${basename(file, '.ts')}-${Date.now()}`)}`] : [];
  return startNode(file, [...prof, '--import', TSX_LOADER, fileURLToPath(new URL(file, import.meta.url))], env);
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
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir && cli === CLI) return startComponent(command, env);
  const prof = dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${command}-${Date.now()}.cpuprofile`] : [];
  return startNode(command, [...prof, cli, command], { LOG_LEVEL: 'info', ...env });
}

/** Pins every thread of a running process to the given CPU list (e.g. "1"); no-op when cpus is undefined. */
export function pinProcess(pid: number | undefined, cpus: string | undefined): void {
  if (pid === undefined || cpus === undefined) return;
  execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
}

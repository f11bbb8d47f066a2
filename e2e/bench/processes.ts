// Bench-only process helpers: start a TypeScript bench server (naive API, bare Fastify, ...)
// the way startComponent starts the built CLI, and pin processes to CPUs with taskset.
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RunningProcess } from '../support/processes.js';

const TSX_LOADER = 'tsx';

/** Runs `node --import tsx <file>` from e2e/bench and waits for its {"msg":"ready"} line. */
export function startBenchScript(file: string, env: Record<string, string | undefined>): Promise<RunningProcess> {
  return startNode(file, ['--import', TSX_LOADER, fileURLToPath(new URL(file, import.meta.url))], env);
}

/** Runs node with the given arguments (e.g. --cpu-prof before the script) and waits for its ready line. */
export async function startNode(
  file: string,
  nodeArgs: string[],
  env: Record<string, string | undefined>,
  readyTimeoutMs = 60_000,
): Promise<RunningProcess> {
  const child = spawn(process.execPath, nodeArgs, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let port: number | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    const onLine = (line: string) => {
      if (lines.length < 10_000) lines.push(line);
      if (process.env.FG_TEST_VERBOSE) process.stderr.write(`[${file}] ${line}\n`);
      if (line.includes('"msg":"ready"')) {
        try {
          const p = JSON.parse(line).port;
          if (typeof p === 'number') port = p;
        } catch {
          /* not JSON */
        }
        resolve();
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    void exited.then((code) => reject(new Error(`${file} exited with ${code} before ready:\n${lines.slice(-30).join('\n')}`)));
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${file} not ready after ${readyTimeoutMs} ms:\n${lines.slice(-30).join('\n')}`)), readyTimeoutMs);
      }),
    ]);
  } catch (e) {
    await stop('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return { child, get port() { return port; }, lines, stop, exited } as RunningProcess;
}

/** Pins every thread of a running process to the given CPU list (e.g. "1"); no-op when cpus is undefined. */
export function pinProcess(pid: number | undefined, cpus: string | undefined): void {
  if (pid === undefined || cpus === undefined) return;
  execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
}

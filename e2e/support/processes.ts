// Starts Flux-Gate processes (the built CLI, dist/cli.js) for e2e tests and waits until
// they log their ready line: a JSON log line with "msg":"ready" (and "port" for HTTP servers).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface RunningProcess {
  child: ChildProcess;
  port?: number;
  /** Every stdout/stderr line so far (for assertions and for debugging a failed test). */
  lines: string[];
  /** SIGTERM (graceful) and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  readyTimeoutMs?: number;
  waitReady?: boolean;
  /** Keep at most this many lines in `lines` (long benchmark runs); unlimited by default. */
  maxLines?: number;
}

export function startComponent(
  command: 'api' | 'worker' | 'operator' | 'migrate',
  env: Record<string, string | undefined>,
  opts: StartOptions = {},
): Promise<RunningProcess> {
  return startNodeProcess(command, [CLI, command], { LOG_LEVEL: 'info', ...env }, opts);
}

/** Runs `node <nodeArgs>` and, unless waitReady is false, waits for its ready line. */
export async function startNodeProcess(
  label: string,
  nodeArgs: string[],
  env: Record<string, string | undefined>,
  opts: StartOptions = {},
): Promise<RunningProcess> {
  const child = spawn(process.execPath, nodeArgs, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const maxLines = opts.maxLines ?? Infinity;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let port: number | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    const onLine = (line: string) => {
      if (lines.length < maxLines) lines.push(line);
      if (process.env.FG_TEST_VERBOSE) process.stderr.write(`[${label}] ${line}\n`);
      if (line.includes('"msg":"ready"')) {
        try {
          const p = JSON.parse(line).port;
          if (typeof p === 'number') port = p;
        } catch {
          /* not JSON: ignore */
        }
        resolve();
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    exited.then((code) => reject(new Error(`${label} exited with ${code} before ready:\n${lines.slice(-30).join('\n')}`)));
  });
  // With waitReady: false nobody awaits `ready`; its rejection on exit must not become unhandled.
  ready.catch(() => undefined);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  if (opts.waitReady !== false) {
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${label} not ready after ${timeoutMs} ms:\n${lines.slice(-30).join('\n')}`)), timeoutMs);
        }),
      ]);
    } catch (e) {
      await stop('SIGKILL');
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
  return { child, get port() { return port; }, lines, stop, exited } as RunningProcess;
}

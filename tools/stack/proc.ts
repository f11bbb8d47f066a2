// Process plumbing for the local stack: detached spawning with a log file, pid checks that resist
// pid reuse, graceful-then-forced stops, TCP probes and file locks. Everything by pid, never by name.
import { spawn, type SpawnOptions } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname } from 'node:path';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value (not undefined or false); errors count as "not yet". */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 90_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a long-lived service in its own session (so it outlives us), output appended to logFile. */
export function spawnDetached(
  command: string,
  args: string[],
  logFile: string,
  opts: Pick<SpawnOptions, 'uid' | 'gid' | 'env' | 'cwd'> = {},
): number {
  const fd = openSync(logFile, 'a');
  try {
    writeFileSync(fd, `\n=== ${new Date().toISOString()} starting: ${command} ${args.join(' ')}\n`);
    const child = spawn(command, args, { ...opts, detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`could not spawn ${command} (is it installed?)`);
    child.unref();
    child.on('error', () => {
      /* reported through the readiness check and the log */
    });
    // While the process that started it lives, how it ended goes into its log: an exit code or a
    // signal is what tells a crash from a kill when a start fails and the log just stops.
    child.on('exit', (code, sig) => {
      try {
        appendFileSync(logFile, `=== ${new Date().toISOString()} exited: ${sig ? `signal ${sig}` : `code ${code}`}\n`);
      } catch {
        /* the state dir is gone (down --purge) */
      }
    });
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** The process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: exists but belongs to someone else; treat as alive (we only signal our own).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return existsSync(`/proc/${pid}`);
  }
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Alive and its command line contains every marker (guards against a recycled pid). */
export function isOurProcess(pid: number, markers: string[], readCmdline: (pid: number) => string = cmdline): boolean {
  if (!isAlive(pid)) return false;
  let cmd = readCmdline(pid);
  // A live process in the middle of an exec (nsenter becoming containerd) reads as an empty
  // cmdline until the new program's arguments are set up, which can take a disk read when the
  // binary is not cached: a fresh clone's first node start saw it as dead, twice, and left it
  // running (in a netns it then deleted). Ask again for up to a second before deciding.
  for (let i = 0; cmd === '' && i < 20 && isAlive(pid); i++) {
    sleepSync(50);
    cmd = readCmdline(pid);
  }
  return markers.every((m) => cmd.includes(m));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Stops one process: `sig`, then SIGKILL to its whole process group (it was started as a session
 * leader, so that also takes its children) if it has not exited after timeoutMs.
 * Returns how it ended.
 */
export async function stopPid(pid: number, sig: NodeJS.Signals, timeoutMs: number): Promise<'stopped' | 'killed'> {
  signal(pid, sig);
  if (await waitForExit(pid, timeoutMs)) return 'stopped';
  killGroup(pid);
  if (!(await waitForExit(pid, 10_000))) throw new Error(`process ${pid} survived SIGKILL`);
  return 'killed';
}

/** SIGKILL the process group led by pid (a crash, for chaos tests). */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    signal(pid, 'SIGKILL');
  }
}

export function tcpOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function tailFile(file: string, lines = 40): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}

export function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A cross-process lock: a file created exclusively that holds the owner's pid. A lock whose owner
 * died is taken over. Waits up to timeoutMs (onWait hears the holder once), reporting the holder in the error.
 * The lock's folder is created if missing: on a cold cache, the first lock of a folder comes before
 * anything else in it (the pause image's lock failed with ENOENT on a fresh machine).
 */
export async function withLock<T>(
  file: string,
  timeoutMs: number,
  what: string,
  fn: () => Promise<T>,
  onWait?: (holder: number) => void,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  mkdirSync(dirname(file), { recursive: true });
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = readPid(file);
      if (holder === undefined) {
        await sleep(200); // the owner may be between creating the file and writing its pid
        holder = readPid(file);
      }
      if (holder === undefined || !isAlive(holder)) {
        rmSync(file, { force: true });
        continue;
      }
      if (holder === process.pid) throw new Error(`${what}: lock ${file} is already held by this process`);
      if (Date.now() > deadline) throw new Error(`${what}: still locked by pid ${holder} after ${timeoutMs} ms (${file})`);
      if (!announced) onWait?.(holder);
      announced = true;
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}

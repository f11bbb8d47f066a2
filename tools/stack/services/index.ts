// Lifecycle of the stack's services, by pid recorded in the state folder.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Log } from '../install.js';
import { isAlive, killGroup, readPid, sleep, stopPid, tailFile, tcpOpen, waitFor, waitForExit, isOurProcess } from '../proc.js';
import type { StackState } from '../state.js';
import { kafkaDriver } from './kafka.js';
import { postgresDriver } from './postgres.js';
import { redisDriver } from './redis.js';
import { SERVICE_NAMES, type ServiceContext, type ServiceDriver, type ServiceName } from './types.js';

export { SERVICE_NAMES, isServiceName, type ServiceName } from './types.js';

export const DRIVERS: Record<ServiceName, ServiceDriver> = {
  redis: redisDriver,
  postgres: postgresDriver,
  kafka: kafkaDriver,
};

export const pidFile = (state: StackState, name: ServiceName) => join(state.stateDir, `${name}.pid`);
export const logFile = (state: StackState, name: ServiceName) => join(state.stateDir, `${name}.log`);

/** The pid of this stack's running service, or undefined (a stale pid file is ignored). */
export function runningPid(state: StackState, name: ServiceName): number | undefined {
  const pid = readPid(pidFile(state, name));
  return pid !== undefined && isOurProcess(pid, DRIVERS[name].markers(state)) ? pid : undefined;
}

function failure(state: StackState, name: ServiceName, what: string): Error {
  const log = logFile(state, name);
  return new Error(`${name} ${what}. Last lines of ${log}:\n${tailFile(log, 40)}`);
}

async function waitReady(ctx: ServiceContext, driver: ServiceDriver, pid: number): Promise<void> {
  const deadline = Date.now() + driver.readyTimeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (!isAlive(pid)) throw failure(ctx.state, driver.name, `(pid ${pid}) exited before it became ready`);
    try {
      await driver.probe(ctx);
      return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(300);
  }
  throw failure(
    ctx.state,
    driver.name,
    `(pid ${pid}, port ${driver.port(ctx.state)}) not ready after ${driver.readyTimeoutMs / 1000} s (last probe: ${lastError})`,
  );
}

/** Starts the service unless it already runs; either way returns once it answers. */
export async function ensureService(ctx: ServiceContext, name: ServiceName): Promise<'reused' | 'started'> {
  const driver = DRIVERS[name];
  const existing = runningPid(ctx.state, name);
  if (existing !== undefined) {
    await waitReady(ctx, driver, existing);
    await driver.afterReady?.(ctx);
    return 'reused';
  }
  const port = driver.port(ctx.state);
  if (await tcpOpen(port)) {
    throw new Error(
      `${name}: port ${port} is already in use by a process this stack did not start. ` +
        `Find it with \`ss -ltnp 'sport = :${port}'\`, or use another FLUXGATE_STACK_ID (its ports are chosen afresh).`,
    );
  }
  await driver.prepare(ctx);
  const pid = driver.spawn(ctx, logFile(ctx.state, name));
  writeFileSync(pidFile(ctx.state, name), `${pid}\n`);
  ctx.log(`${name}: started pid ${pid} on port ${port}, waiting until it answers`);
  await waitReady(ctx, driver, pid);
  try {
    await driver.afterReady?.(ctx);
  } catch (err) {
    throw failure(ctx.state, name, `is up but its setup failed: ${(err as Error).message}`);
  }
  return 'started';
}

/**
 * Stops the service: its graceful signal, SIGKILL after its timeout. `hard` kills at once (a crash):
 * the whole process group, so PostgreSQL's backends die with the postmaster.
 */
export async function stopService(
  state: StackState,
  name: ServiceName,
  opts: { hard?: boolean } = {},
): Promise<'stopped' | 'killed' | 'not running'> {
  const driver = DRIVERS[name];
  const pid = runningPid(state, name);
  let result: 'stopped' | 'killed' | 'not running' = 'not running';
  if (pid !== undefined) {
    if (opts.hard) {
      killGroup(pid);
      if (!(await waitForExit(pid, 10_000))) throw new Error(`${name} (pid ${pid}) survived SIGKILL`);
      result = 'killed';
    } else {
      result = await stopPid(pid, driver.stopSignal, driver.stopTimeoutMs);
    }
  }
  if (existsSync(pidFile(state, name))) rmSync(pidFile(state, name));
  // A killed JVM's listener can outlive its pid by a moment: a start right after (a test's
  // restart) would take the open port for a stranger's ("already in use").
  // Still open after 10 s: left to the next start, which names the port's owner.
  if (result !== 'not running') await waitFor(`${name}'s port to close`, async () => !(await tcpOpen(driver.port(state))), 10_000, 100).catch(() => undefined);
  return result;
}

export interface ServiceStatus {
  name: ServiceName;
  status: 'running' | 'not answering' | 'stopped';
  pid?: number;
  port: number;
  url: string;
  log: string;
}

export async function serviceStatus(state: StackState, name: ServiceName, log: Log = () => undefined): Promise<ServiceStatus> {
  const driver = DRIVERS[name];
  const pid = runningPid(state, name);
  const base = { name, port: driver.port(state), url: driver.url(state), log: logFile(state, name) };
  if (pid === undefined) return { ...base, status: 'stopped' };
  try {
    await driver.probe({ state, log });
    return { ...base, pid, status: 'running' };
  } catch {
    return { ...base, pid, status: 'not answering' };
  }
}

export const allServices = (): ServiceName[] => [...SERVICE_NAMES];

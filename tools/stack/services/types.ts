// What the stack needs to know to run one service as a process it owns.
import type { Log } from '../install.js';
import type { StackState } from '../state.js';

export const SERVICE_NAMES = ['redis', 'postgres', 'kafka'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export function isServiceName(name: string): name is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(name);
}

export interface ServiceContext {
  state: StackState;
  log: Log;
}

export interface ServiceDriver {
  name: ServiceName;
  port(state: StackState): number;
  /** Substrings of the process command line that prove a pid is this stack's service. */
  markers(state: StackState): string[];
  /** Installs nothing; creates data dirs/config and initializes data the first time. Idempotent. */
  prepare(ctx: ServiceContext): Promise<void>;
  /** Spawns the server detached, logging to logFile; returns its pid. */
  spawn(ctx: ServiceContext, logFile: string): number;
  /** Resolves when the service answers a real request; throws otherwise. */
  probe(ctx: ServiceContext): Promise<void>;
  /** Runs once the service is ready (e.g. create the database). Idempotent. */
  afterReady?(ctx: ServiceContext): Promise<void>;
  /** The connection string tests and components get. */
  url(state: StackState): string;
  stopSignal: NodeJS.Signals;
  stopTimeoutMs: number;
  readyTimeoutMs: number;
}

// Chaos control for tests: stop, start and restart the stack's services by name.
// Works from the state folder (FLUXGATE_STACK_STATE, set by `stack:env` and the e2e global setup).
import { DRIVERS, ensureService, runningPid, stopService, type ServiceName } from './services/index.js';
import { requireState, type StackState } from './state.js';

export type { ServiceName } from './services/index.js';

export interface StopOptions {
  /** SIGKILL the service at once (a crash) instead of a graceful stop. */
  hard?: boolean;
}

export class ServiceControl {
  readonly state: StackState;

  constructor(stateDir: string | undefined = process.env.FLUXGATE_STACK_STATE, private readonly log: (line: string) => void = () => undefined) {
    if (!stateDir) {
      throw new Error('ServiceControl needs the local stack: FLUXGATE_STACK_STATE is not set (run the tests through the e2e global setup or `eval "$(npm run -s stack:env)"`)');
    }
    this.state = requireState(stateDir);
  }

  /** Stops the service and waits until its process is gone. Redis loses all its data. */
  async stop(name: ServiceName, opts: StopOptions = {}): Promise<void> {
    await stopService(this.state, name, opts);
  }

  /** Starts the service (a no-op when it runs) and waits until it answers. */
  async start(name: ServiceName): Promise<void> {
    await ensureService({ state: this.state, log: this.log }, name);
  }

  async restart(name: ServiceName, opts: StopOptions = {}): Promise<void> {
    await this.stop(name, opts);
    await this.start(name);
  }

  isRunning(name: ServiceName): boolean {
    return runningPid(this.state, name) !== undefined;
  }

  pid(name: ServiceName): number | undefined {
    return runningPid(this.state, name);
  }

  url(name: ServiceName): string {
    return DRIVERS[name].url(this.state);
  }
}

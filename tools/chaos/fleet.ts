// The Flux-Gate processes of the chaos run (APIs, workers, operators), each the built CLI
// (`node dist/cli.js <role>`), restartable under the same name and port, logging to the run dir.
// Invariant: the harness touches Flux-Gate only from outside: environment, signals, HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { waitFor } from './util.js';

/** The built CLI: dist/cli.js after the layout move, dist/services/cli.js before it. */
export function cliPath(): string {
  const candidates = ['../../dist/cli.js', '../../dist/services/cli.js'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`the CLI is not built (${candidates.join(' or ')}): npm run build`);
  return found;
}

/** The harness's environment minus the stack's single-Redis URL (the run uses Sentinel), plus the process's own. */
function childEnv(own: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' };
  for (const k of ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER', 'REDIS_CLUSTER_NODES']) delete env[k];
  return { ...env, ...own };
}

export type Role = 'api' | 'worker' | 'operator' | 'migrate';

export class FgProcess {
  child?: ChildProcess;
  frozen = false;
  /** Set once the current child printed its ready line. */
  ready = false;
  private log?: WriteStream;
  private readonly tail: string[] = [];

  constructor(readonly name: string, readonly role: Role, readonly env: Record<string, string>, private readonly logDir: string) {}

  get pid(): number | undefined {
    return this.running() ? this.child!.pid : undefined;
  }

  running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  lastLines(n = 20): string {
    return this.tail.slice(-n).join('\n');
  }

  /** Spawns the process; with wait, resolves once it logged "ready" (throws if it exits first). */
  async start(wait = true, timeoutMs = 90_000): Promise<void> {
    if (this.running()) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    this.log ??= createWriteStream(join(this.logDir, `${this.name}.log`), { flags: 'a' });
    this.ready = false;
    this.frozen = false;
    const child = spawn(process.execPath, [cliPath(), this.role], { env: childEnv(this.env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const onLine = (line: string) => {
      this.log!.write(line + '\n');
      this.tail.push(line);
      if (this.tail.length > 200) this.tail.shift();
      if (child === this.child && line.includes('"msg":"ready"')) this.ready = true;
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    if (!wait) return;
    await waitFor(`${this.name} ready`, async () => (this.ready || child.exitCode !== null || child.signalCode !== null ? true : undefined), timeoutMs);
    if (!this.ready) throw new Error(`${this.name} exited with ${child.exitCode ?? child.signalCode} before ready:\n${this.lastLines()}`);
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.running()) return;
    this.child!.kill(sig);
    if (sig === 'SIGSTOP') this.frozen = true;
    if (sig === 'SIGCONT') this.frozen = false;
  }

  /** Stops the process with `sig` (SIGKILL: a crash) and waits for it to be gone. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<void> {
    if (!this.running()) return;
    const child = this.child!;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    if (this.frozen) child.kill('SIGCONT');
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    this.frozen = false;
  }

  async close(): Promise<void> {
    await this.stop('SIGKILL');
    this.log?.end();
  }
}

// The chaos run's Redis: a master, two replicas and three Sentinels (quorum 2), real redis-server
// processes on free 127.0.0.1 ports under a temp dir. Unlike e2e/support's topology, a node can be
// killed, frozen (SIGSTOP), and restarted EMPTY on its own port (no persistence: a restart loses
// everything, like a pod without a volume). Each node has a data dir of its own, emptied at every
// start: a replica's full sync leaves a dump.rdb behind, and with one shared dir a "restart empty"
// reloaded a snapshot seconds old (gate open, counters from before the last sales; chaos seed
// 536877017). A restart from a stale snapshot is another fault, documented in the README.
// Invariant: every process started here is stopped by stop(), by pid; nothing else is touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { which } from '../stack/install.js';
import { freePort, waitFor } from './util.js';

export const MASTER_NAME = 'fgchaos';

export class RedisProc {
  child?: ChildProcess;
  /** Stopped with SIGSTOP and not yet resumed. */
  frozen = false;

  constructor(readonly name: string, readonly port: number, private readonly conf: string, private readonly args: string[], private readonly bin: string, private readonly dataDir?: string) {}

  start(): void {
    this.frozen = false;
    // Empty means empty: whatever a full sync or a BGSAVE left in this node's dir is not loaded.
    if (this.dataDir) for (const f of ['dump.rdb', 'appendonlydir']) rmSync(join(this.dataDir, f), { recursive: true, force: true });
    this.child = spawn(this.bin, [this.conf, ...this.args], { stdio: 'ignore' });
  }

  running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.running()) return;
    this.child!.kill(sig);
    if (sig === 'SIGSTOP') this.frozen = true;
    if (sig === 'SIGCONT') this.frozen = false;
  }

  async kill(): Promise<void> {
    if (!this.running()) return;
    const exited = new Promise<void>((r) => this.child!.once('exit', () => r()));
    this.child!.kill('SIGKILL');
    await exited;
    this.frozen = false;
  }

  /** A short-lived admin client; the callback's result is returned, the client closed. */
  async admin<T>(f: (c: Redis) => Promise<T>, timeoutMs = 2000): Promise<T> {
    const c = new Redis({ port: this.port, host: '127.0.0.1', maxRetriesPerRequest: 0, commandTimeout: timeoutMs, connectTimeout: timeoutMs, retryStrategy: () => null, lazyConnect: true });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return await f(c);
    } finally {
      c.disconnect();
    }
  }

  async waitPing(): Promise<void> {
    await waitFor(`${this.name} on :${this.port} answers PING`, () => this.admin(async (c) => ((await c.ping()) === 'PONG' ? true : undefined)), 30_000);
  }
}

export class SentinelSet {
  readonly dir = mkdtempSync(join(tmpdir(), 'fg-chaos-redis-'));
  nodes: RedisProc[] = [];
  sentinels: RedisProc[] = [];

  private constructor(private readonly bin: string) {}

  static async start(): Promise<SentinelSet> {
    const bin = which('redis-server');
    if (!bin) throw new Error('redis-server is not installed (npm run stack:up installs it)');
    const set = new SentinelSet(bin);
    try {
      await set.boot();
    } catch (e) {
      await set.stop();
      throw e;
    }
    return set;
  }

  private async proc(name: string, conf: string, args: string[] = []): Promise<RedisProc> {
    const port = await freePort();
    const file = join(this.dir, `${name}.conf`);
    const dataDir = join(this.dir, name);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `bind 127.0.0.1\nport ${port}\ndir ${dataDir}\nsave ""\nappendonly no\nlogfile "${join(this.dir, `${name}.log`)}"\n${conf}\n`);
    const p = new RedisProc(name, port, file, args, this.bin, dataDir);
    p.start();
    await p.waitPing();
    return p;
  }

  private async boot(): Promise<void> {
    const a = await this.proc('redis-a', '');
    this.nodes = [a, await this.proc('redis-b', `replicaof 127.0.0.1 ${a.port}`), await this.proc('redis-c', `replicaof 127.0.0.1 ${a.port}`)];
    const sentinelConf = [
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${a.port} 2`,
      `sentinel down-after-milliseconds ${MASTER_NAME} 1500`,
      `sentinel failover-timeout ${MASTER_NAME} 6000`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
    ].join('\n');
    for (const n of ['sentinel-1', 'sentinel-2', 'sentinel-3']) this.sentinels.push(await this.proc(n, sentinelConf, ['--sentinel']));
    await waitFor('every Sentinel sees 2 replicas and 2 other Sentinels', async () => {
      for (const s of this.sentinels) {
        const ok = await s.admin(async (c) => {
          const replicas = (await c.call('SENTINEL', 'replicas', MASTER_NAME)) as unknown[];
          const others = (await c.call('SENTINEL', 'sentinels', MASTER_NAME)) as unknown[];
          return replicas.length === 2 && others.length === 2;
        });
        if (!ok) return undefined;
      }
      return true;
    }, 60_000);
  }

  /** The node a reachable Sentinel names as master (undefined while none answers). */
  async master(): Promise<RedisProc | undefined> {
    for (const s of this.sentinels) {
      if (!s.running() || s.frozen) continue;
      try {
        const port = await s.admin(async (c) => Number(((await c.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as string[])[1]));
        return this.nodes.find((n) => n.port === port);
      } catch {
        /* try the next Sentinel */
      }
    }
    return undefined;
  }

  /** Every data and Sentinel port (for the proxies' port maps). */
  get dataPorts(): number[] {
    return this.nodes.map((n) => n.port);
  }

  /** Brings every process back: resumes frozen ones, starts dead ones (empty), waits for PING. */
  async heal(): Promise<void> {
    for (const p of [...this.nodes, ...this.sentinels]) {
      if (p.frozen) p.signal('SIGCONT');
      if (!p.running()) p.start();
    }
    for (const p of [...this.nodes, ...this.sentinels]) await p.waitPing();
  }

  /** Kills every process; their logs (the Sentinels' view of each failover) go to `keepLogsIn` first. */
  async stop(keepLogsIn?: string): Promise<void> {
    for (const p of [...this.sentinels, ...this.nodes]) {
      if (p.frozen) p.signal('SIGCONT');
      await p.kill();
    }
    if (keepLogsIn) {
      mkdirSync(keepLogsIn, { recursive: true });
      for (const p of [...this.nodes, ...this.sentinels]) {
        const log = join(this.dir, `${p.name}.log`);
        if (existsSync(log)) copyFileSync(log, join(keepLogsIn, `${p.name}.log`));
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

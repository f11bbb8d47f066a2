// Extra Redis deployments for one test file: a Sentinel-managed master with a replica, or a
// 3-master Redis Cluster. Real redis-server processes (Debian's package; Sentinel is the same
// binary with --sentinel) on free 127.0.0.1 ports, under a temp dir, stopped by pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createRedis } from '../../core/redis/client.js';
import { readSaleState, seedSale } from '../../core/redis/sale.js';
import { ensurePackages, which } from '../../tools/stack/install.js';
import { cacheDirFor } from '../../tools/stack/paths.js';
import { freePort, sleep } from '../../tools/stack/proc.js';
import { waitFor } from './wait.js';

export { freePort };

/** redis-server (Sentinel is the same binary with --sentinel), installed through the stack's apt step when missing. */
async function redisServerBinary(): Promise<string> {
  if (!which('redis-server')) await ensurePackages(cacheDirFor(process.env), (line) => process.stderr.write(`[redis-topologies] ${line}\n`));
  const bin = which('redis-server');
  if (!bin) throw new Error('redis-server is not installed: `apt-get install -y redis-server`');
  return bin;
}

export interface RedisNode {
  port: number;
  readonly pid: number | undefined;
  /** SIGKILL: a crash, no shutdown save, no goodbye to the replicas. */
  kill(): Promise<void>;
  /** SIGKILL, then the same process again on the same port and config: its data is gone (no persistence), a Cluster node keeps its nodes.conf. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: the process freezes (connections stay open, nothing is read or answered). */
  pause(): void;
  resume(): void;
  running(): boolean;
  /** A short-lived plain client to this node (admin commands). */
  client(): Redis;
  log: string[];
}

class Group {
  readonly dir = mkdtempSync(join(tmpdir(), 'fg-redis-topology-'));
  private readonly children: ChildProcess[] = [];

  /** `address`: one more local address every node listens on (besides 127.0.0.1), without protected mode. */
  private constructor(private readonly bin: string, private readonly address?: string) {}

  static async create(address?: string): Promise<Group> {
    return new Group(await redisServerBinary(), address);
  }

  /** `auth`: what the node's admin client() logs in with (a Sentinel with requirepass). */
  async start(name: string, conf: string, extraArgs: string[] = [], auth: { username?: string; password?: string } = {}): Promise<RedisNode> {
    const port = await freePort();
    const file = join(this.dir, `${name}.conf`);
    // Clients from elsewhere (pods) dial `address` and have no password: protected mode would refuse them.
    const bind = this.address ? `bind 127.0.0.1 ${this.address}\nprotected-mode no` : 'bind 127.0.0.1';
    writeFileSync(file, `${bind}\nport ${port}\ndir ${this.dir}\nsave ""\nappendonly no\nlogfile ""\n${conf.replaceAll('$PORT', String(port))}\n`);
    const log: string[] = [];
    const collect = (b: Buffer) => log.push(...b.toString().split('\n').filter(Boolean));
    let child!: ChildProcess;
    let exited!: Promise<void>;
    const spawnIt = () => {
      child = spawn(this.bin, [file, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.children.push(child);
      child.stdout!.on('data', collect);
      child.stderr!.on('data', collect);
      const c = child;
      exited = new Promise<void>((r) => c.once('exit', () => r()));
    };
    const answers = () =>
      waitFor(`${name} on :${port} answers PING`, async () => {
        if (!node.running()) throw new Error(`${name} exited:\n${log.slice(-20).join('\n')}`);
        const c = node.client();
        c.on('error', () => undefined);
        try {
          return (await c.ping()) === 'PONG' ? true : undefined;
        } finally {
          c.disconnect();
        }
      });
    const node: RedisNode = {
      port,
      get pid() {
        return child.pid;
      },
      running: () => child.exitCode === null && child.signalCode === null,
      async kill() {
        if (node.running()) child.kill('SIGKILL');
        await exited;
      },
      async restart() {
        await node.kill();
        spawnIt();
        await answers();
      },
      pause: () => void child.kill('SIGSTOP'),
      resume: () => void child.kill('SIGCONT'),
      client: () => new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1, ...auth }),
      log,
    };
    spawnIt();
    await answers();
    return node;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs `f` on a short-lived admin client of `node`. */
export async function admin<T>(node: RedisNode, f: (c: Redis) => Promise<T>): Promise<T> {
  const c = node.client();
  c.on('error', () => undefined);
  try {
    return await f(c);
  } finally {
    c.disconnect();
  }
}

export const MASTER_NAME = 'fgmaster';

export interface SentinelTopology {
  /** The variables the API reads in Sentinel mode. */
  env: { REDIS_SENTINELS: string; REDIS_SENTINEL_MASTER: string };
  nodes: RedisNode[];
  sentinel: RedisNode;
  /** The data node the Sentinel currently names as master. */
  master(): Promise<RedisNode>;
  /** Blocks until every replica of the current master has acknowledged all its writes. */
  syncReplicas(): Promise<void>;
  /** Waits until the Sentinel names another master than `from` and that node answers as a master. */
  waitForNewMaster(from: RedisNode, timeoutMs?: number): Promise<RedisNode>;
  stop(): Promise<void>;
}

export interface SentinelTopologyOptions {
  replicas?: number;
  /** Extra redis.conf lines of every data node (e.g. ACL `user` lines). */
  dataConf?: string;
  /** Extra sentinel.conf lines (e.g. `requirepass`, `user` lines); `sentinelAdmin` is then what the test's admin client logs in with. */
  sentinelConf?: string;
  sentinelAdmin?: { username?: string; password?: string };
  /**
   * A local address (e.g. the node uplink's host end) the nodes also listen on and are known by:
   * replicas follow the master there and the Sentinel names it, so a client that reaches only that
   * address (a pod) can dial the master the Sentinel gives it. Default: 127.0.0.1 only.
   */
  address?: string;
}

/** Master + `replicas` replicas (default 1) + 1 Sentinel (quorum 1), failing over within about a second. */
export async function startSentinelTopology(o: SentinelTopologyOptions = {}): Promise<SentinelTopology> {
  const g = await Group.create(o.address);
  const host = o.address ?? '127.0.0.1';
  // A replica announces the address it is known by (after a failover the Sentinel names it as master).
  const announce = o.address ? `replica-announce-ip ${o.address}\n` : '';
  const replicaCount = o.replicas ?? 1;
  try {
    const data = o.dataConf ?? '';
    const a = await g.start('redis-a', `${announce}${data}`);
    const nodes = [a];
    for (let i = 0; i < replicaCount; i++) {
      const r = await g.start(`redis-${'bcdefgh'[i]}`, `replicaof ${host} ${a.port}\n${announce}${data}`);
      await waitFor(`replica :${r.port} in sync`, () => admin(r, async (c) => ((await c.info('replication')).includes('master_link_status:up') ? true : undefined)));
      nodes.push(r);
    }
    const sentinel = await g.start(
      'sentinel',
      [
        `sentinel monitor ${MASTER_NAME} ${host} ${a.port} 1`,
        o.address ? `sentinel announce-ip ${o.address}` : '',
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        o.sentinelConf ?? '',
      ].join('\n'),
      ['--sentinel'],
      o.sentinelAdmin,
    );
    const masterPort = () => admin(sentinel, async (c) => Number(((await c.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as string[])[1]));
    await waitFor('the Sentinel to see the replicas', () =>
      admin(sentinel, async (c) => (((await c.call('SENTINEL', 'replicas', MASTER_NAME)) as unknown[]).length === replicaCount ? true : undefined)),
    );
    const topo: SentinelTopology = {
      env: { REDIS_SENTINELS: `${host}:${sentinel.port}`, REDIS_SENTINEL_MASTER: MASTER_NAME },
      nodes,
      sentinel,
      async master() {
        const port = await masterPort();
        return nodes.find((n) => n.port === port)!;
      },
      async syncReplicas() {
        // After a failover the demoted node first needs a full resync: wait for an online replica,
        // then for it to acknowledge every write so far.
        const m = await topo.master();
        await waitFor(`a replica of :${m.port} online and caught up`, () =>
          admin(m, async (c) => {
            if (!/^slave\d+:.*state=online/m.test(await c.info('replication'))) return undefined;
            return (await c.call('WAIT', '1', '2000')) === 1 ? true : undefined;
          }),
        );
      },
      waitForNewMaster: (from, timeoutMs = 30_000) =>
        waitFor(
          `a master other than :${from.port}`,
          async () => {
            const m = await topo.master();
            if (m.port === from.port) return undefined;
            const role = await admin(m, async (c) => ((await c.call('ROLE')) as unknown[])[0]);
            return role === 'master' ? m : undefined;
          },
          timeoutMs,
        ),
      stop: () => g.stop(),
    };
    return topo;
  } catch (e) {
    await g.stop();
    throw e;
  }
}

/**
 * What the operator's recovery does after a failover, for suites that run the API without an
 * operator: reseed the sale on `node` (the new master) with the figures it holds. Until then
 * reserve.lua refuses there (the fence: the sale was seeded on another node). The suites sync the
 * replicas before each switch, so these figures are the true ones; the operator takes PostgreSQL's.
 */
export async function reseedOn(node: RedisNode, productId: string): Promise<void> {
  const redis = createRedis(`redis://127.0.0.1:${node.port}`);
  redis.on('error', () => undefined);
  try {
    const s = await readSaleState(redis, productId);
    if (s.stock === null || s.initialStock === null) throw new Error(`reseedOn :${node.port}: ${productId} is not in Redis there`);
    await seedSale(redis, {
      productId, stock: s.stock, initialStock: s.initialStock, perUserLimit: s.perUserLimit, rateLimitPerSecond: s.rateLimitPerSecond,
      startsAt: s.startsAt, endsAt: s.endsAt, admission: s.admission,
    });
  } finally {
    redis.disconnect();
  }
}

export interface ReplicationPair {
  master: RedisNode;
  replica: RedisNode;
  stop(): Promise<void>;
}

/**
 * A master and one replica, no Sentinel: the test moves roles itself (REPLICAOF). Each node has its
 * own snapshot file (`SAVE` writes it, a restart() loads it): a restart from an old snapshot.
 */
export async function startReplicationPair(): Promise<ReplicationPair> {
  const g = await Group.create();
  try {
    const master = await g.start('redis-a', 'dbfilename redis-a.rdb');
    const replica = await g.start('redis-b', `dbfilename redis-b.rdb\nreplicaof 127.0.0.1 ${master.port}`);
    await waitFor(`replica :${replica.port} in sync`, () => admin(replica, async (c) => ((await c.info('replication')).includes('master_link_status:up') ? true : undefined)));
    return { master, replica, stop: () => g.stop() };
  } catch (e) {
    await g.stop();
    throw e;
  }
}

export interface ClusterTopology {
  /** The variable the API reads in Cluster mode. */
  env: { REDIS_CLUSTER_NODES: string };
  nodes: RedisNode[];
  /** CLUSTER KEYSLOT, asked of a real node. */
  keySlot(key: string): Promise<number>;
  /** Port of the master that serves the slot. */
  nodeOfSlot(slot: number): Promise<number>;
  stop(): Promise<void>;
}

/** Three masters, no replicas, slots split by `redis-cli --cluster create`. */
export async function startCluster(): Promise<ClusterTopology> {
  const g = await Group.create();
  try {
    const nodes: RedisNode[] = [];
    for (const name of ['rc-0', 'rc-1', 'rc-2']) {
      nodes.push(await g.start(name, `cluster-enabled yes\ncluster-config-file nodes-$PORT.conf\ncluster-node-timeout 2000`));
    }
    const cli = which('redis-cli');
    if (!cli) throw new Error('redis-cli is not installed (Debian package redis-tools, a dependency of redis-server)');
    const r = spawnSync(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0) throw new Error(`redis-cli --cluster create failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    for (const n of nodes) {
      await waitFor(`cluster_state:ok on :${n.port}`, () => admin(n, async (c) => ((await c.call('CLUSTER', 'INFO')) as string).includes('cluster_state:ok') ? true : undefined));
    }
    const first = nodes[0]!;
    return {
      env: { REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(',') },
      nodes,
      keySlot: (key) => admin(first, async (c) => Number(await c.call('CLUSTER', 'KEYSLOT', key))),
      nodeOfSlot: (slot) =>
        admin(first, async (c) => {
          const ranges = (await c.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
          const hit = ranges.find(([lo, hi]) => slot >= lo && slot <= hi);
          if (!hit) throw new Error(`no node serves slot ${slot}`);
          return Number(hit[2][1]);
        }),
      stop: () => g.stop(),
    };
  } catch (e) {
    await g.stop();
    throw e;
  }
}

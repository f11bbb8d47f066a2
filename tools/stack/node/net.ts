// The local node's network, namespaced by the stack: the node (containerd, kubelet, kube-proxy,
// the pods' bridge) lives in its own network namespace, so kube-proxy's and the CNI's iptables
// rules never meet another stack's. One veth pair ("uplink") joins it to the host; on the host,
// only the stack's own ports on the uplink address are DNATed to the 127.0.0.1 services.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';

export interface NodeNet {
  /** Network namespace (under /run/netns) holding the whole node. */
  netns: string;
  /** Host end of the uplink veth (the node end is called "uplink" inside the namespace). */
  hostVeth: string;
  /** nat chain on the host holding this stack's DNAT rules. */
  chain: string;
  hostIp: string;
  nodeIp: string;
  podCidr: string;
  podGateway: string;
  /** The node's name in Kubernetes. */
  nodeName: string;
}

/** 10.214.<net>.1: the host end of the uplink, the address pods dial for the stack's services. */
export function uplinkHostIp(net: number): string {
  return `10.214.${net}.1`;
}

/** Every name and address of a stack's node, from its id and its node network index. */
export function nodeNetFor(stackId: string, net: number): NodeNet {
  // Linux interface names have at most 15 characters: a hash keeps them short and unique.
  const h = createHash('sha256').update(stackId).digest('hex').slice(0, 8);
  return {
    netns: `fg-${h}`,
    hostVeth: `fg${h}`,
    chain: `FG-${h.toUpperCase()}`,
    hostIp: uplinkHostIp(net),
    nodeIp: `10.214.${net}.2`,
    podCidr: `10.215.${net}.0/24`,
    podGateway: `10.215.${net}.1`,
    nodeName: `fg-${h}`,
  };
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

function ok(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const netnsPath = (n: NodeNet) => `/run/netns/${n.netns}`;

/** Runs a command inside the node's network namespace only (nsenter keeps the host's mounts, cgroups). */
export function inNetns(n: NodeNet, cmd: string, args: string[]): string {
  return sh('nsenter', [`--net=${netnsPath(n)}`, '--', cmd, ...args]);
}

/** Creates the namespace, the uplink and the host DNAT for `ports` (idempotent). */
export function netUp(n: NodeNet, ports: number[]): void {
  if (!existsSync(netnsPath(n))) sh('ip', ['netns', 'add', n.netns]);
  if (!ok('ip', ['link', 'show', n.hostVeth])) {
    sh('ip', ['link', 'add', n.hostVeth, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', n.netns]);
    sh('ip', ['addr', 'add', `${n.hostIp}/30`, 'dev', n.hostVeth]);
  }
  sh('ip', ['link', 'set', n.hostVeth, 'up']);
  const inNs = (args: string[]) => sh('ip', ['-n', n.netns, ...args]);
  if (!inNs(['addr', 'show', 'uplink']).includes(n.nodeIp)) inNs(['addr', 'add', `${n.nodeIp}/30`, 'dev', 'uplink']);
  inNs(['link', 'set', 'lo', 'up']);
  inNs(['link', 'set', 'uplink', 'up']);
  inNs(['route', 'replace', 'default', 'via', n.hostIp]);
  // The node routes pod traffic; bridged pod traffic must pass kube-proxy's iptables rules.
  inNetns(n, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=1']);
  // DNAT to 127.0.0.1 needs route_localnet on the interface the packets come in on (host side only).
  sh('sysctl', ['-qw', `net.ipv4.conf.${n.hostVeth}.route_localnet=1`]);
  hostDnat(n, ports);
}

/** The stack's nat chain: uplink address + one of `ports` → 127.0.0.1 (nothing else is exposed). */
function hostDnat(n: NodeNet, ports: number[]): void {
  if (!ok('iptables', ['-w', '-t', 'nat', '-L', n.chain, '-n'])) sh('iptables', ['-w', '-t', 'nat', '-N', n.chain]);
  sh('iptables', ['-w', '-t', 'nat', '-F', n.chain]);
  for (const port of ports) {
    sh('iptables', ['-w', '-t', 'nat', '-A', n.chain, '-d', n.hostIp, '-p', 'tcp', '--dport', String(port),
      '-j', 'DNAT', '--to-destination', `127.0.0.1:${port}`]);
  }
  const jump = ['PREROUTING', '-i', n.hostVeth, '-j', n.chain];
  if (!ok('iptables', ['-w', '-t', 'nat', '-C', ...jump])) sh('iptables', ['-w', '-t', 'nat', '-A', ...jump]);
}

/** Removes the host rules, the uplink and the namespace (with every bridge/veth/rule inside it). */
export function netDown(n: NodeNet): string[] {
  const removed: string[] = [];
  const jump = ['PREROUTING', '-i', n.hostVeth, '-j', n.chain];
  while (ok('iptables', ['-w', '-t', 'nat', '-C', ...jump])) {
    sh('iptables', ['-w', '-t', 'nat', '-D', ...jump]);
    removed.push(`iptables jump to ${n.chain}`);
  }
  if (ok('iptables', ['-w', '-t', 'nat', '-L', n.chain, '-n'])) {
    sh('iptables', ['-w', '-t', 'nat', '-F', n.chain]);
    sh('iptables', ['-w', '-t', 'nat', '-X', n.chain]);
    removed.push(`iptables chain ${n.chain}`);
  }
  if (ok('ip', ['link', 'show', n.hostVeth])) {
    sh('ip', ['link', 'del', n.hostVeth]);
    removed.push(`veth ${n.hostVeth}`);
  }
  if (existsSync(netnsPath(n))) {
    sh('ip', ['netns', 'del', n.netns]);
    removed.push(`netns ${n.netns}`);
  }
  return removed;
}

/** What of the node network exists now (for status and for the "nothing left" test). */
export function netLeftovers(n: NodeNet): string[] {
  const left: string[] = [];
  if (existsSync(netnsPath(n))) left.push(`netns ${n.netns}`);
  if (ok('ip', ['link', 'show', n.hostVeth])) left.push(`veth ${n.hostVeth}`);
  if (ok('iptables', ['-w', '-t', 'nat', '-L', n.chain, '-n'])) left.push(`iptables chain ${n.chain}`);
  return left;
}

// Unit tests of the node's pure parts: names and addresses per stack, and the rendered configs.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cgroupRootFor, cniConflist, containerdConfig, kubeletConfig, kubeProxyConfig, nodeDirs } from './configs.js';
import { nodeNetFor } from './net.js';

describe('nodeNetFor', () => {
  it('gives two stacks different namespaces, interfaces, chains and subnets', () => {
    const a = nodeNetFor('r0123456789', 1);
    const b = nodeNetFor('r9876543210', 2);
    for (const k of ['netns', 'hostVeth', 'chain', 'hostIp', 'nodeIp', 'podCidr', 'nodeName'] as const) expect(a[k]).not.toBe(b[k]);
    expect(a.hostVeth.length).toBeLessThanOrEqual(15); // Linux IFNAMSIZ - 1
    expect(a).toMatchObject({ hostIp: '10.214.1.1', nodeIp: '10.214.1.2', podCidr: '10.215.1.0/24', podGateway: '10.215.1.1' });
  });
});

describe('node configs', () => {
  const net = nodeNetFor('s1', 3);
  const d = nodeDirs('/c/stacks/s1');

  it('keeps every containerd path under the stack state and uses the local sandbox image', () => {
    const toml = containerdConfig(d, 'fluxgate.local/pause:abc');
    expect(toml).toContain('root = "/c/stacks/s1/node/containerd/root"');
    expect(toml).toContain('address = "/c/stacks/s1/node/containerd/containerd.sock"');
    expect(toml).toContain('sandbox_image = "fluxgate.local/pause:abc"');
    expect(toml).toContain('conf_dir = "/c/stacks/s1/node/cni/net.d"');
  });

  it('gives the CNI bridge the stack pod subnet and its own IPAM folder', () => {
    const conf = JSON.parse(cniConflist(net, d));
    expect(conf.plugins[0]).toMatchObject({ type: 'bridge', isGateway: true, ipMasq: true });
    expect(conf.plugins[0].ipam).toMatchObject({ type: 'host-local', dataDir: '/c/stacks/s1/node/cni/ipam', ranges: [[{ subnet: '10.215.3.0/24' }]] });
  });

  it('lets the kubelet run on cgroup v1 under a per-stack cgroup root', () => {
    const cfg = parse(kubeletConfig(net, d, net.nodeIp));
    expect(cfg).toMatchObject({ failCgroupV1: false, cgroupDriver: 'cgroupfs', cgroupRoot: cgroupRootFor(net), address: '10.214.3.2', clusterDNS: ['10.214.3.2'] });
    expect(cfg.containerRuntimeEndpoint).toBe('unix:///c/stacks/s1/node/containerd/containerd.sock');
  });

  it('leaves machine-wide conntrack settings alone in kube-proxy', () => {
    const cfg = parse(kubeProxyConfig(net, '/k'));
    expect(cfg).toMatchObject({ mode: 'iptables', clusterCIDR: '10.215.3.0/24', nodePortAddresses: ['10.214.3.2/32'], conntrack: { maxPerCore: 0 } });
  });
});

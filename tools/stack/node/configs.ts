// The local node's configuration files, as pure functions of the stack's names and paths:
// containerd (CRI), the CNI bridge, kubelet and kube-proxy. Every path sits under the node's
// state folder and every address comes from net.ts, so two stacks never share one.
import { join } from 'node:path';
import type { NodeNet } from './net.js';

export interface NodeDirs {
  root: string;
  containerdRoot: string;
  containerdState: string;
  containerdSock: string;
  cniConfDir: string;
  cniIpamDir: string;
  kubeletRoot: string;
  podLogs: string;
}

export function nodeDirs(stateDir: string): NodeDirs {
  const root = join(stateDir, 'node');
  return {
    root,
    containerdRoot: join(root, 'containerd', 'root'),
    containerdState: join(root, 'containerd', 'state'),
    // A unix socket path must stay under 108 bytes: the state folder is short enough.
    containerdSock: join(root, 'containerd', 'containerd.sock'),
    cniConfDir: join(root, 'cni', 'net.d'),
    cniIpamDir: join(root, 'cni', 'ipam'),
    kubeletRoot: join(root, 'kubelet'),
    podLogs: join(root, 'pod-logs'),
  };
}

/** The cgroup (v1, cgroupfs driver) every pod of this node lives under. */
export const cgroupRootFor = (n: NodeNet) => `/fluxgate-${n.nodeName}`;

const q = (s: string) => JSON.stringify(s); // TOML basic strings are JSON-compatible for our paths

/** containerd 1.6 (Debian) config: own root/state/socket, the locally built pause image, runc + cgroupfs. */
export function containerdConfig(d: NodeDirs, sandboxImage: string): string {
  return `version = 2
root = ${q(d.containerdRoot)}
state = ${q(d.containerdState)}
# Plugins this node never uses; skipping them keeps containerd's start quick and its log quiet.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(d.containerdSock)}

[ttrpc]
  address = ${q(d.containerdSock + '.ttrpc')}

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(d.root, 'containerd', 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  # No registry is reachable: the sandbox image is built and imported locally (pinned, never pulled).
  sandbox_image = ${q(sandboxImage)}
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # This machine withholds CAP_SYS_RESOURCE even from root, so runc cannot lower oom_score_adj
  # (the kubelet asks -998 for every sandbox): keep each at or above containerd's own value.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${q(d.cniConfDir)}
`;
}

/** CNI: one Linux bridge inside the node's namespace, host-local IPAM, masquerade off the pod subnet. */
export function cniConflist(n: NodeNet, d: NodeDirs): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: n.nodeName,
    plugins: [
      {
        type: 'bridge',
        bridge: 'fgbr0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: d.cniIpamDir,
          ranges: [[{ subnet: n.podCidr, gateway: n.podGateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }, null, 2);
}

/** KubeletConfiguration: cgroup v1 accepted (this machine boots v1 hybrid), state under the stack. */
export function kubeletConfig(n: NodeNet, d: NodeDirs, clusterDns: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The machine boots cgroup v1 (hybrid); kubelets >= 1.35 refuse it unless told (KEP-5573).
failCgroupV1: false
# containerd 1.6 has no RuntimeConfig RPC, so the kubelet uses this driver (1.36 still falls back).
cgroupDriver: cgroupfs
cgroupRoot: ${cgroupRootFor(n)}
containerRuntimeEndpoint: unix://${d.containerdSock}
podLogsDir: ${d.podLogs}
address: ${n.nodeIp}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
clusterDomain: cluster.local
clusterDNS: [${clusterDns}]
failSwapOn: false
# A shared disk and memory: never evict test pods because other stacks filled the machine.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 60
resolvConf: /etc/resolv.conf
`;
}

/** kube-proxy in iptables mode, inside the node's namespace; touches no host-wide sysctl. */
export function kubeProxyConfig(n: NodeNet, kubeconfig: string): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${kubeconfig}
mode: iptables
hostnameOverride: ${n.nodeName}
clusterCIDR: ${n.podCidr}
bindAddress: ${n.nodeIp}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# NodePorts answer on the node's uplink address only (the host reaches them there).
nodePortAddresses: ["${n.nodeIp}/32"]
# 0 = leave the (machine-wide) conntrack limits and timeouts as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`;
}

#!/usr/bin/env bash
# Builds the local node's binaries from Go modules: kubelet, kube-scheduler, kube-proxy
# (k8s.io/kubernetes, the same version as the control plane in kube/go.mod), the pod sandbox
# "pause" process, and CoreDNS (cluster DNS: Services by name). Usage: build-node.sh <out-dir>
# Same scheme as build.sh: <out-dir>.tmp first, renamed when every binary built; Go's default
# module and build caches, shared with the control-plane build, so this one is mostly incremental.
set -euo pipefail

out=${1:?usage: build-node.sh <out-dir>}
here=$(cd "$(dirname "$0")" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:--p=2}"

tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"

step() { # name, module dir, ...go build args
  local name=$1 dir=$2
  shift 2
  local t0=$SECONDS
  echo "[k8s-node] building $name ..."
  (cd "$here/$dir" && go build -trimpath "$@")
  echo "[k8s-node] built $name in $((SECONDS - t0))s"
}

total0=$SECONDS
go version
kv=$(cd "$here/node" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
cpv=$(cd "$here/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
# A kubelet newer than the apiserver is unsupported: keep both modules on one version.
[ "$kv" = "$cpv" ] || { echo "node/go.mod has k8s.io/kubernetes $kv but kube/go.mod has $cpv: align them" >&2; exit 1; }
minor=$(echo "$kv" | cut -d. -f2)
ldf="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldf+=" -X $pkg.gitVersion=$kv -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
step pause node -ldflags "-s -w" -o "$tmp/pause" ./pause
step kube-scheduler node -ldflags "$ldf" -o "$tmp/kube-scheduler" k8s.io/kubernetes/cmd/kube-scheduler
step kube-proxy node -ldflags "$ldf" -o "$tmp/kube-proxy" k8s.io/kubernetes/cmd/kube-proxy
step kubelet node -ldflags "$ldf" -o "$tmp/kubelet" k8s.io/kubernetes/cmd/kubelet
# CoreDNS (a main with only the plugins the node uses): its own module, its client-go is newer.
step coredns coredns -ldflags "-s -w" -o "$tmp/coredns" .

rm -rf "$out"
mv "$tmp" "$out"
echo "[k8s-node] all binaries in $out (total $((SECONDS - total0))s)"

#!/usr/bin/env bash
# Builds the test control plane binaries from Go modules (no downloads besides the Go module proxy):
#   etcd, kube-apiserver, kube-controller-manager, kubectl (k8s.io/kubernetes) and helm.
# Usage: build.sh <out-dir>
# The binaries land in <out-dir>.tmp first and are renamed to <out-dir> only when all of them
# built, so a half-finished build never looks like a cache hit.
# Module and build caches stay at Go's defaults (~/go/pkg/mod, ~/.cache/go-build): a warm
# machine rebuilds in a few minutes. GOFLAGS=-p=N limits parallel compiles (default -p=2).
set -euo pipefail

out=${1:?usage: build.sh <out-dir>}
here=$(cd "$(dirname "$0")" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:--p=2}"

tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"

modver() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }

step() { # name, dir, ...go build args
  local name=$1 dir=$2
  shift 2
  local t0=$SECONDS
  echo "[k8s-tools] building $name ..."
  (cd "$here/$dir" && go build -trimpath "$@")
  echo "[k8s-tools] built $name in $((SECONDS - t0))s"
}

total0=$SECONDS
go version

# --- etcd: its own module, so its gRPC/OTel versions stay out of the Kubernetes build.
step etcd etcd -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3

# --- Kubernetes. The version ldflags make /version report a real semver (helm parses it).
kv=$(modver kube k8s.io/kubernetes) # e.g. v1.36.3
minor=$(echo "$kv" | cut -d. -f2)
P=k8s.io/component-base/version
C=k8s.io/client-go/pkg/version
kldf="-s -w"
for pkg in $P $C; do
  kldf+=" -X $pkg.gitVersion=$kv -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
step kube-apiserver kube -ldflags "$kldf" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
step kubectl kube -ldflags "$kldf" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl
step kube-controller-manager kube -ldflags "$kldf" -o "$tmp/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager

# --- helm (its Makefile's ldflags: version, and the default k8s version for `helm template`/lint).
hv=$(modver helm helm.sh/helm/v3)
hk=$(modver helm k8s.io/client-go) # v0.36.x -> k8s 1.36
hminor=$(echo "$hk" | cut -d. -f2)
H=helm.sh/helm/v3
hldf="-s -w -X $H/internal/version.version=$hv -X $H/internal/version.gitTreeState=clean"
for pkg in $H/pkg/chartutil $H/pkg/lint/rules; do
  hldf+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$hminor"
done
step helm helm -ldflags "$hldf" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm

rm -rf "$out"
mv "$tmp" "$out"
echo "[k8s-tools] all binaries in $out (total $((SECONDS - total0))s)"

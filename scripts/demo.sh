#!/usr/bin/env bash
# The main job: a flash-sale stampede on real services, end to end, with an invariant report.
# Does its own set-up on a fresh machine: install, build, local stack, migrations.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "demo: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
echo "demo: building"
npm run -s build
echo "demo: starting the local stack (Redis, PostgreSQL, Kafka)"
npm run -s stack:up -- --no-k8s
eval "$(npm run -s stack:env)"
exec npx tsx tools/demo/run.ts "$@"

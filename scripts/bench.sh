#!/usr/bin/env bash
# npm run bench: builds, brings the local stack up (without Kubernetes), runs every benchmark
# side by side (tools/bench/run.ts), prints the table, writes tools/bench/results/, and leaves the
# stack as it found it (stopped again if this script started it).
# Knobs (env): BENCH_DURATION_S=2 (per round) BENCH_ROUNDS=6 (turns alternate A B, B A; ratios from paired rounds) BENCH_WARMUP_S=2 BENCH_CONNECTIONS=64 BENCH_PIN=off|1:0 (server CPUs:wrk CPUs)
#              BENCH_WORKER_ORDERS=100000 BENCH_PER_MESSAGE_MAX_S=10 BENCH_ONLY=ceiling,soldout,accept,replica,worker,redis,e2e,queue
#              BENCH_REDIS_CALLS=200000 BENCH_E2E_REQUESTS=1000000 BENCH_E2E_BUYERS=200000 BENCH_E2E_UNITS=100000 BENCH_E2E_SALES=4 (README)
#              FLUXGATE_KAFKA_JIT=c2 (the JIT of a broker this script starts; c1 = the tests' C1-only broker)
#              BENCH_CPU_PROF=<dir> (V8 CPU profile of our API and worker per case; tools/bench/profile-top.ts summarizes one)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk (Debian package)" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q wrk >/dev/null
fi
if ! command -v redis-benchmark >/dev/null 2>&1; then
  echo "bench: installing redis-benchmark (Debian package redis-tools)" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q redis-tools >/dev/null
fi
if [ "${BENCH_PIN:-off}" != "off" ] && ! command -v taskset >/dev/null 2>&1; then
  echo "bench: taskset not found (util-linux); running unpinned" >&2
  export BENCH_PIN=off
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run -s build

# "up" = all three services of this stack already running; then they stay running afterwards.
status="$(npm run -s stack:status 2>/dev/null || true)"
if grep -Eq '^kafka +running' <<<"$status" && grep -Eq '^postgres +running' <<<"$status" \
  && grep -Eq '^redis +running' <<<"$status"; then
  stack_was_up=1
else
  stack_was_up=0
fi
stop_stack() {
  if [ "$stack_was_up" = 0 ]; then npm run -s stack:down >&2 || true; fi
}
trap stop_stack EXIT

# A broker started here runs C2 as a production broker does (the tests' stack runs C1 only, for a
# fast start); a stack already running keeps its broker, and the report says which JIT it has.
FLUXGATE_KAFKA_JIT="${FLUXGATE_KAFKA_JIT:-c2}" npm run -s stack:up -- --no-k8s >&2
eval "$(npm run -s stack:env)"
export KAFKAJS_NO_PARTITIONER_WARNING=1
# "queue" is tools/bench/queue.ts's case (below); run.ts knows the others.
others="$(sed -e 's/^/,/' -e 's/$/,/' -e 's/,queue,/,/g' -e 's/^,//' -e 's/,$//' <<<"${BENCH_ONLY:-}")"
if [ -z "${BENCH_ONLY:-}" ]; then
  npx tsx tools/bench/run.ts
elif [ -n "$others" ]; then
  BENCH_ONLY="$others" npx tsx tools/bench/run.ts
fi
# The waiting room's cases: Redis only (memory per waiting user, fairness, rate, estimate), then
# through the HTTP API (fairness at 20,000 joins, GET /queue/:ticket vs bare Fastify).
# BENCH_ONLY without "queue" skips them; BENCH_QUEUE_SHORT=1 runs the short mode.
if [ -z "${BENCH_ONLY:-}" ] || [[ ",${BENCH_ONLY}," == *",queue,"* ]]; then
  npx tsx tools/bench/queue.ts
  npx tsx tools/bench/queue-http.ts
fi

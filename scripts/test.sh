#!/usr/bin/env bash
# The whole test suite, as `npm test` and CI run it, on a machine that may have nothing installed:
#   dependencies -> build -> local stack (Redis, PostgreSQL, Kafka, Kubernetes control plane)
#   -> vitest (unit + e2e, the short chaos run included) -> the cluster suite on a real node
#   -> stop what this script started.
# Extra arguments go to vitest (e.g. `npm test -- --project unit`) and skip the cluster suite;
# FLUXGATE_SKIP_CLUSTER=1 skips it too.
# FLUXGATE_KEEP_STACK=1 leaves the stack running afterwards; FLUXGATE_STACK_ID picks the stack.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
export CI="${CI:-}"

t_start=$SECONDS
step() { echo "[test.sh] $* (+$((SECONDS - t_start)) s)" >&2; }
fail() { echo "[test.sh] FAILED: $*" >&2; exit 1; }

command -v node >/dev/null || fail "node is not installed (Node 20+ is required)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || fail "Node $(node --version) is too old: Node 20+ is required"

# 1. Dependencies: npm ci when node_modules is missing or older than package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error || fail "npm ci (see the npm output above)"
fi

# 2. Build: the e2e tests spawn dist/cli.js.
step "building (npm run build)"
npm run -s build || fail "npm run build (TypeScript errors above)"

# 3. The local stack. Only what this script starts is stopped at the end: a stack a developer
#    already had running stays up (on a fresh CI machine that means: everything is stopped).
started_file="$(mktemp)"
stop_stack() {
  local code=$?
  if [ "${FLUXGATE_KEEP_STACK:-}" = "1" ]; then
    step "leaving the stack running (FLUXGATE_KEEP_STACK=1)"
  elif [ -s "$started_file" ]; then
    step "stopping what this run started: $(cat "$started_file")"
    npx tsx tools/stack/cli.ts down --only="$(tr -d '\n' <"$started_file")" || echo "[test.sh] WARNING: stack:down failed" >&2
  fi
  rm -f "$started_file"
  exit "$code"
}
trap stop_stack EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "starting the local stack (npm run stack:up)"
npx tsx tools/stack/cli.ts up --started-file="$started_file" || fail "the local stack did not come up (the error above names the service and its log)"
eval "$(npx tsx tools/stack/cli.ts env)"

# 4. Tests: unit + e2e, then (for the whole suite, i.e. no extra arguments) the cluster suite on the
#    stack's real node (e2e/cluster: its set-up starts the node and imports the image, its teardown
#    stops the node again). JSON reports give the plain closing line "N passed, N failed".
reports=()
run_vitest() {
  local report
  report="$(mktemp)"
  reports+=("$report")
  npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
}
step "running vitest (unit + e2e)"
set +e
run_vitest "$@"
code=$?
if [ $# -eq 0 ] && [ "${FLUXGATE_SKIP_CLUSTER:-}" != "1" ]; then
  step "running the cluster suite on the local node (vitest.cluster.config.ts)"
  run_vitest --config vitest.cluster.config.ts
  cluster_code=$?
  [ "$code" -eq 0 ] && code=$cluster_code
fi
set -e
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0, missing = 0;
  for (const f of process.argv.slice(1)) {
    try {
      const r = JSON.parse(fs.readFileSync(f, "utf8"));
      passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
    } catch { missing++; }
  }
  if (missing) console.log(`vitest: ${missing} run(s) left no JSON report (they did not finish)`);
  console.log(`vitest: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "${reports[@]}"
rm -f "${reports[@]}"
step "vitest exited with $code"
exit "$code"

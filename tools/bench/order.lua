-- wrk script for POST /order. Every request carries a fresh idempotency key and user id
-- (run nonce + thread id + counter), so the accept path never hits a replay or a per-user limit.
-- Usage: wrk ... -s order.lua <url> -- <productId> <nonce>
-- At the end it prints one line "BENCH_JSON {...}" that tools/bench/wrk.ts parses.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

local product, nonce, counter, headers

function init(args)
  product = args[1] or "bench"
  nonce = args[2] or tostring(os.time())
  counter = 0
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  counter = counter + 1
  local id = nonce .. "-" .. tid .. "-" .. counter
  headers["x-idempotency-key"] = "k-" .. id
  local body = '{"productId":"' .. product .. '","userId":"u-' .. id .. '","quantity":1}'
  return wrk.format("POST", "/order", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end

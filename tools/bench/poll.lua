-- wrk script for GET /queue/:ticket: the tickets (one per line, in a file) are polled round robin,
-- each wrk thread from its own offset. Usage: wrk ... -s poll.lua <url> -- <tickets file>
-- setup() and done() (the "BENCH_JSON {...}" line tools/bench/wrk.ts parses) come from order.lua.

local dir = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
dofile(dir .. 'order.lua')

local paths, counter

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    if line ~= "" then table.insert(paths, "/queue/" .. line) end
  end
  counter = (tid or 1) * 7919
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end

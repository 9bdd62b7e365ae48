-- Prepended by bench/bench.py to every wrk run's script: counts the responses that arrive
-- inside the measured window [T0, T1) (Unix time in seconds, fractions allowed, the script's
-- arguments: wrk ... -- T0 T1), so that warm-up and connection setup stay outside it. bench.py
-- samples the server's CPU time at T0 and T1 and ends wrk with SIGINT after T1 (wrk then still
-- runs done()). The workload's own script (varied.lua, post.lua) follows this code.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")

local function now()  -- CLOCK_REALTIME (vDSO: no system call), as Python's time.time()
  ffi.C.clock_gettime(0, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  t0 = tonumber(args[1])
  t1 = tonumber(args[2])
  counted = 0
  bad = 0
end

function response(status, headers, body)
  local t = now()
  if t >= t0 and t < t1 then
    counted = counted + 1
    if status >= 400 then
      bad = bad + 1
    end
  end
end

function done(summary, latency, requests)
  local n, b = 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("counted")
    b = b + t:get("bad")
  end
  io.write(string.format("window_requests %d %d\n", n, b))
end

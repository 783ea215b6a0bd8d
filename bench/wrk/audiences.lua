-- GET /v1/profiles/user_id/<u>/audiences at a steady rate, for bench/audiences.py.
--
--   wrk -t2 -c8 -d20s -s bench/wrk/audiences.lua http://127.0.0.1:PORT -- SECRET PEOPLE RATE
--
-- Each thread sends its share of RATE on a schedule: the n-th request of a thread is due at
-- start + n / (RATE / threads), and delay() holds a connection until its request's slot, so
-- the run asks RATE requests a second whatever the latency (as long as a connection is free;
-- wrk measures each request from its send, not from its slot). done() prints
-- "relevo-wrk result {json}" with the latency percentiles in microseconds.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } relevo_timespec;
int clock_gettime(int clock_id, relevo_timespec *tp);
]])
local timespec = ffi.new("relevo_timespec")

local function now()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local secret, people, rate, threads
local started, sent = nil, 0

function init(args)
  secret = args[1]
  people = tonumber(args[2])
  rate = tonumber(args[3])
  threads = tonumber(args[4])
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function delay()
  started = started or now()
  local due = started + sent / (rate / threads)
  sent = sent + 1
  return math.max(0, (due - now()) * 1000)
end

function request()
  local path = "/v1/profiles/user_id/u" .. math.random(0, people - 1) .. "/audiences"
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. secret })
end

function done(summary, latency, requests)
  local parts = {}
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    parts[#parts + 1] = string.format('"p%s": %d', tostring(p), latency:percentile(p))
  end
  io.write(string.format(
    'relevo-wrk result {"requests": %d, "seconds": %.3f, "errors": %d, "non2xx": %d, %s}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, table.concat(parts, ", ")))
end

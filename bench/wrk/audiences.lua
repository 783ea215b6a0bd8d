-- GET /v1/profiles/user_id/<u>/audiences at a steady rate, for bench/audiences.py.
--
--   wrk -t2 -c8 -d20s -s bench/wrk/audiences.lua http://127.0.0.1:PORT -- SECRET PEOPLE RATE
--
-- Each thread sends its share of RATE on a schedule: the n-th request of a thread is due at
-- start + n / (RATE / threads), and delay() holds a connection until its request's slot, so
-- the run asks RATE requests a second whatever the latency (as long as a connection is free).
-- wrk itself times a request from its write, which hides the wait for a free connection: each
-- request carries its due time in X-Request-ID, Relevo sends it back, and response() counts
-- from it (as bench/wrk/decide.lua). done() prints "relevo-wrk result {json}" with those
-- percentiles in microseconds ("p50"...) and wrk's own ("wrk_p50"...).

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
local dues, first_due = {}, 1
local all_threads = {}
client_us, failed = {}, 0 -- read back by done() through thread:get

function setup(thread)
  table.insert(all_threads, thread)
end

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
  dues[#dues + 1] = due
  return math.max(0, (due - now()) * 1000)
end

function request()
  -- Slots fire in due order: the oldest pending due is this request's (a connection's first
  -- request had no delay() call: it is due now).
  local due = dues[first_due]
  if due then
    dues[first_due] = nil
    first_due = first_due + 1
  else
    due = now()
  end
  local path = "/v1/profiles/user_id/u" .. math.random(0, people - 1) .. "/audiences"
  return wrk.format("GET", path, {
    ["Authorization"] = "Bearer " .. secret,
    ["X-Request-ID"] = string.format("%.6f", due),
  })
end

function response(status, headers, body)
  local arrived = now()
  local due = tonumber(headers["x-request-id"] or headers["X-Request-ID"] or "")
  if status ~= 200 then
    failed = failed + 1
  elseif due then
    client_us[#client_us + 1] = math.floor((arrived - due) * 1e6)
  end
end

function done(summary, latency, requests)
  local client = {}
  for _, thread in ipairs(all_threads) do
    for _, v in ipairs(thread:get("client_us")) do client[#client + 1] = v end
  end
  table.sort(client)
  local parts = {}
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    local index = math.max(1, math.min(#client, math.ceil(p / 100 * #client)))
    parts[#parts + 1] = string.format('"p%s": %d', tostring(p), client[index] or -1)
    parts[#parts + 1] = string.format('"wrk_p%s": %d', tostring(p), latency:percentile(p))
  end
  parts[#parts + 1] = string.format('"measured": %d', #client)
  io.write(string.format(
    'relevo-wrk result {"requests": %d, "seconds": %.3f, "errors": %d, "non2xx": %d, %s}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, table.concat(parts, ", ")))
end

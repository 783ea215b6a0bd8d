-- POST /v1/decide at a steady rate, for bench/decide_wrk.py, latency counted from each
-- request's scheduled send time.
--
--   wrk -t2 -c16 -d20s -s bench/wrk/decide.lua http://127.0.0.1:PORT -- \
--       SECRET VISITORS PRODUCTS RATE THREADS
--
-- Each thread sends its share of RATE on a schedule: the n-th request of a thread is due at
-- start + n / (RATE / threads); delay() holds a connection until the slot. wrk itself times a
-- request from when it was written, which hides the time a request waited for a free
-- connection; here each request carries its due time in X-Request-ID, Relevo sends it back,
-- and response() counts from it. done() prints "relevo-wrk result {json}": client latency from
-- the schedule and server time (Server-Timing) percentiles in microseconds, and which branch
-- answered each placement (an experience, the placement's default, nothing).

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } relevo_timespec;
int clock_gettime(int clock_id, relevo_timespec *tp);
]])
local timespec = ffi.new("relevo_timespec")

local function now()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC: the same clock in every thread
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local secret, visitors, products, rate, nthreads
local started, sent = nil, 0
local dues, first_due = {}, 1
-- Read back by done() through thread:get: plain globals of each thread.
client_us, server_us = {}, {}
experience, default, empty, statuses = 0, 0, 0, 0

function init(args)
  secret = args[1]
  visitors = tonumber(args[2])
  products = tonumber(args[3])
  rate = tonumber(args[4])
  nthreads = tonumber(args[5])
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function delay()
  started = started or now()
  local due = started + sent / (rate / nthreads)
  sent = sent + 1
  dues[#dues + 1] = due
  return math.max(0, (due - now()) * 1000)
end

function request()
  -- Slots fire in due order, so the oldest pending due is this request's; a connection's
  -- first request had no delay() call: it is due now.
  local due = dues[first_due]
  if due then
    dues[first_due] = nil
    first_due = first_due + 1
  else
    due = now()
  end
  local body = string.format(
    '{"identity":{"kind":"anonymous_id","value":"anon-%d"},'
      .. '"context":{"page":{"url":"https://shop.example/products/p%d"},'
      .. '"product":{"product_id":"p%d"}},'
      .. '"placements":["home-hero","pdp-similar","pdp-together"]}',
    math.random(0, visitors - 1), math.random(0, products - 1), math.random(0, products - 1))
  return wrk.format("POST", "/v1/decide", {
    ["Authorization"] = "Bearer " .. secret,
    ["Content-Type"] = "application/json",
    ["X-Request-ID"] = string.format("%.6f", due),
  }, body)
end

local function count(body, text)
  return select(2, body:gsub(text, ""))
end

function response(status, headers, body)
  local arrived = now()
  local due = tonumber(headers["x-request-id"] or headers["X-Request-ID"] or "")
  if status ~= 200 then
    statuses = statuses + 1
    return
  end
  if due then
    client_us[#client_us + 1] = math.floor((arrived - due) * 1e6)
  end
  local timing = headers["server-timing"] or headers["Server-Timing"] or ""
  local dur = tonumber(timing:match("dur=([%d%.]+)") or "")
  if dur then
    server_us[#server_us + 1] = math.floor(dur * 1000)
  end
  experience = experience + count(body, '"source":"experience"')
  default = default + count(body, '"source":"default"')
  empty = empty + count(body, '"source":"empty"')
end

local function percentiles(values)
  table.sort(values)
  local parts = {}
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    local index = math.max(1, math.min(#values, math.ceil(p / 100 * #values)))
    parts[#parts + 1] = string.format('"p%s": %d', tostring(p), values[index] or -1)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local client, server = {}, {}
  local branches = { experience = 0, default = 0, empty = 0 }
  local failed = 0
  for _, thread in ipairs(threads) do
    for _, v in ipairs(thread:get("client_us")) do client[#client + 1] = v end
    for _, v in ipairs(thread:get("server_us")) do server[#server + 1] = v end
    branches.experience = branches.experience + thread:get("experience")
    branches.default = branches.default + thread:get("default")
    branches.empty = branches.empty + thread:get("empty")
    failed = failed + thread:get("statuses")
  end
  io.write(string.format(
    'relevo-wrk result {"requests": %d, "seconds": %.3f, "errors": %d, "non2xx": %d, '
      .. '"measured": %d, "client": %s, "server": %s, "wrk_from_write": %s, '
      .. '"experience": %d, "default": %d, "empty": %d}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    failed, #client, percentiles(client), percentiles(server),
    string.format('{"p50": %d, "p99": %d}', latency:percentile(50), latency:percentile(99)),
    branches.experience, branches.default, branches.empty))
end

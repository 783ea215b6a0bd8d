-- Segment /v1/batch load for wrk, driven by bench/ingest_wrk.py.
--
--   wrk -t2 -c16 -d30s --timeout 30s -s bench/wrk/batch.lua http://127.0.0.1:PORT/v1/batch \
--       -- WRITE_KEY LOAD_SECONDS [BATCH [RUN_ID [VISITORS]]]
--
-- Every request is a new body of BATCH messages (pages, product views, cart adds, identifies,
-- orders) from VISITORS visitors, three in ten of them known customers whose messages carry
-- their userId. messageIds are RUN_ID-<thread>-<counter>: unique across threads and runs.
--
-- After LOAD_SECONDS a thread sends nothing more (delay() parks its connections) but keeps
-- reading, so every request sent gets its answer and the accepted count can be compared with
-- what the database stored; once a thread has no request in flight it prints
-- "relevo-wrk idle <thread>" so the driver can stop wrk without waiting for -d. done() prints one
-- line "relevo-wrk result {json}" with the counters of all threads and wrk's latency figures.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } relevo_timespec;
int clock_gettime(int clock_id, relevo_timespec *tp);
]])
local timespec = ffi.new("relevo_timespec")

-- Wall-clock seconds (CLOCK_REALTIME), comparable with Python's time.time().
local function now()
  ffi.C.clock_gettime(0, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(text)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = text:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local function char(shift)
      local k = math.floor(n / shift) % 64 + 1
      return B64:sub(k, k)
    end
    out[#out + 1] = char(262144) .. char(4096) .. (b and char(64) or "=") .. (c and char(1) or "=")
  end
  return table.concat(out)
end

-- Setup and done run in wrk's main Lua state; everything below them runs in each thread's own.
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

local UAS = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    .. "Chrome/120.0.0.0 Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    .. "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    .. "Chrome/120.0.0.0 Mobile Safari/537.36",
}
local SOURCES = {
  "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=winter",
  "https://shop.example/?utm_source=newsletter&utm_medium=email",
  "https://shop.example/",
}
local CONTEXTS = {}
for i = 1, 3 do
  CONTEXTS[i] = '"context":{"userAgent":"' .. UAS[i] .. '","page":{"url":"' .. SOURCES[i]
    .. '","referrer":"https://www.google.com/"}}'
end

-- Counters read by done() through thread:get.
sent = 0          -- requests sent (counted in delay(), which precedes each request)
answered = 0      -- responses received
accepted = 0      -- sum of "accepted" over 200 answers
duplicates = 0    -- sum of "duplicates"
rejected = 0      -- messages the server quarantined
unparsed = 0      -- 200 answers without an "accepted" figure
statuses = {}     -- count of answers by HTTP status
first_sent = 0    -- wall clock of the first request
last_answer = 0   -- wall clock of the last answer
error_sample = "" -- status and start of the first answer other than 200
idle = false

local KNOWN = 3 -- of every 10 visitors are known customers: their messages carry a userId
local deadline, batch, run, visitors, counter
local random, floor, concat = math.random, math.floor, table.concat

function init(args)
  local key = args[1]
  local seconds = tonumber(args[2])
  if not key or not seconds then
    error("usage: -- WRITE_KEY LOAD_SECONDS [BATCH [RUN_ID [VISITORS]]]")
  end
  batch = tonumber(args[3]) or 100
  run = args[4] or "wrk"
  visitors = tonumber(args[5]) or 20000
  counter = 0
  deadline = now() + seconds
  math.randomseed(id * 7919 + floor(now()))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Basic " .. base64(key .. ":")
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", floor(t)) .. string.format(".%03dZ", floor(t * 1000) % 1000)
end

local function product()
  return '{"product_id":"' .. random(0, 4999) .. '","category":"category-' .. random(0, 29)
    .. '","brand":"brand-' .. random(0, 49) .. '","price":12.5}'
end

local function message(stamp)
  counter = counter + 1
  local visitor = random(0, visitors - 1)
  local message_id = run .. "-" .. id .. "-" .. counter
  local who = '"anonymousId":"anon-' .. visitor .. '"'
  local roll = random()
  if roll >= 0.93 and roll < 0.97 then
    return '{"type":"identify","userId":"user-' .. visitor .. '","traits":{"email":"user'
      .. visitor .. '@example.com"},' .. who .. ',"messageId":"' .. message_id .. '",' .. stamp
      .. CONTEXTS[visitor % 3 + 1] .. "}"
  end
  if visitor % 10 < KNOWN then
    who = who .. ',"userId":"user-' .. visitor .. '"'
  end
  local head = who .. ',"messageId":"' .. message_id .. '",' .. stamp .. CONTEXTS[visitor % 3 + 1]
  if roll < 0.30 then
    return '{"type":"page","name":"Product",' .. head .. "}"
  elseif roll < 0.80 then
    return '{"type":"track","event":"Product Viewed","properties":' .. product() .. "," .. head
      .. "}"
  elseif roll < 0.93 then
    return '{"type":"track","event":"Product Added","properties":' .. product() .. "," .. head
      .. "}"
  end
  return '{"type":"track","event":"Order Completed","properties":{"order_id":"o-' .. message_id
    .. '","revenue":25.0,"products":[' .. product() .. "]}," .. head .. "}"
end

local parts = {}

function request()
  local moment = iso(now())
  local stamp = '"timestamp":"' .. moment .. '","sentAt":"' .. moment .. '",'
  for i = 1, batch do
    parts[i] = message(stamp)
  end
  return wrk.format(nil, nil, nil, '{"batch":[' .. concat(parts, ",", 1, batch) .. "]}")
end

local function check_idle()
  if not idle and answered >= sent then
    idle = true
    io.write("relevo-wrk idle " .. id .. "\n")
    io.stdout:flush()
  end
end

function delay()
  local t = now()
  if t >= deadline then
    check_idle()
    return 3600 * 1000 -- parked: this connection sends nothing more
  end
  if first_sent == 0 then
    first_sent = t
  end
  sent = sent + 1
  return 0
end

function response(status, headers, body)
  answered = answered + 1
  last_answer = now()
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 200 and error_sample == "" then
    error_sample = status .. " " .. body:sub(1, 300)
  end
  if status == 200 then
    local n = body:match('"accepted":%s*(%d+)')
    if n then
      accepted = accepted + tonumber(n)
    else
      unparsed = unparsed + 1
    end
    duplicates = duplicates + tonumber(body:match('"duplicates":%s*(%d+)') or 0)
    if not body:find('"rejected":[]', 1, true) then
      local _, count = body:gsub('"index":', "")
      rejected = rejected + count
    end
  end
  if last_answer >= deadline then
    check_idle()
  end
end

function done(summary, latency, requests)
  local total = {
    sent = 0, answered = 0, accepted = 0, duplicates = 0, rejected = 0, unparsed = 0,
  }
  local statuses_all, first, last, sample = {}, math.huge, 0, ""
  for _, thread in ipairs(threads) do
    if sample == "" then
      sample = thread:get("error_sample")
    end
    for name in pairs(total) do
      total[name] = total[name] + thread:get(name)
    end
    for status, count in pairs(thread:get("statuses")) do
      statuses_all[status] = (statuses_all[status] or 0) + count
    end
    local started = thread:get("first_sent")
    if started > 0 and started < first then
      first = started
    end
    last = math.max(last, thread:get("last_answer"))
  end
  local fields = {}
  for name, value in pairs(total) do
    fields[#fields + 1] = string.format('"%s":%d', name, value)
  end
  local by_status = {}
  for status, count in pairs(statuses_all) do
    by_status[#by_status + 1] = string.format('"%d":%d', status, count)
  end
  local errors = {}
  for name, value in pairs(summary.errors) do
    errors[#errors + 1] = string.format('"%s":%d', name, value)
  end
  local escaped = sample:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end)
  fields[#fields + 1] = '"error_sample":"' .. escaped .. '"'
  fields[#fields + 1] = '"statuses":{' .. concat(by_status, ",") .. "}"
  fields[#fields + 1] = '"errors":{' .. concat(errors, ",") .. "}"
  fields[#fields + 1] = string.format('"first_sent":%.6f,"last_answer":%.6f', first, last)
  fields[#fields + 1] = string.format('"wrk_requests":%d,"wrk_duration_us":%d', summary.requests,
    summary.duration)
  fields[#fields + 1] = string.format(
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}',
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean)
  io.write("relevo-wrk result {" .. concat(fields, ",") .. "}\n")
end

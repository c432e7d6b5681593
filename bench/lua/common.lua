-- Shared by every scenario script (loaded with dofile). Each wrk thread runs the scenario in a
-- Lua state of its own; wrk calls setup() and done() in the main state.
--
--   * every response that is not 2xx counts as an error (wrk itself counts only >= 400),
--     with a tally per status code;
--   * each thread gets an id (0, 1, ...) so it can read an input file of its own;
--   * done() prints one line "BENCH_JSON {...}" that bench/run.py parses.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

errors = 0
codes = {}

function count(status)
  if status < 200 or status > 299 then
    errors = errors + 1
    local key = tostring(status)
    codes[key] = (codes[key] or 0) + 1
  end
end

-- Lines of a file, in order (empty lines skipped).
function read_lines(path)
  local out = {}
  local f = assert(io.open(path, "r"), "cannot open " .. path)
  for line in f:lines() do
    if #line > 0 then table.insert(out, line) end
  end
  f:close()
  return out
end

function env(name)
  return assert(os.getenv(name), "environment variable " .. name .. " is not set")
end

local function json_string(s)
  return '"' .. tostring(s):gsub('[%c"\\]', "") .. '"'
end

function done(summary, latency, requests)
  local non2xx, starved = 0, 0
  local tally = {}
  for _, thread in ipairs(threads) do
    non2xx = non2xx + (thread:get("errors") or 0)
    starved = starved + (thread:get("starved") or 0)
    local c = thread:get("codes") or {}
    for k, v in pairs(c) do tally[k] = (tally[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(tally) do table.insert(parts, json_string(k) .. ":" .. v) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"starved":%d,' ..
    '"socket_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"max_us":%d,"codes":{%s}}\n',
    summary.requests, summary.duration, summary.bytes, non2xx, starved,
    e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max, table.concat(parts, ",")))
end

starved = 0

-- Optional pacing (BENCH_RATE = total requests per second over BENCH_THREADS threads): each
-- thread keeps a schedule of send times and delays a request until its slot, so the offered
-- load is fixed instead of "as fast as the server answers". Latency is measured from the
-- actual send, as wrk always does (no coordinated-omission correction).
local rate = tonumber(os.getenv("BENCH_RATE") or "")
if rate and rate > 0 then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clk_id, bench_timespec *tp);
  ]]
  local ts = ffi.new("bench_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 * tonumber(os.getenv("BENCH_THREADS") or "1") / rate
  local slot = nil
  function delay()
    local now = now_ms()
    if slot == nil or slot < now then slot = now end
    local wait = slot - now
    slot = slot + interval
    return math.floor(wait)
  end
end

-- wrk script for bench/tracking.sh: GETs the tracking link paths of $LINKS (one per line),
-- every thread from its own random start, with a browser's User-Agent. KIND=o or c picks opens
-- or clicks. RATE (requests/s, for one wrk thread) paces the requests on a fixed schedule: the
-- k-th request is due k/RATE seconds after the first, whatever the connection it goes out on,
-- so the load stays at RATE as long as the server keeps up. Without RATE each connection sends
-- its next request as soon as the answer to the last one arrives (the most the server does).
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *ts);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local kind = "/t/" .. (os.getenv("KIND") or "o") .. "/"
local rate = tonumber(os.getenv("RATE") or "0") or 0
local paths = {}
for line in io.lines(os.getenv("LINKS")) do
  if line:sub(1, #kind) == kind then paths[#paths + 1] = line end
end
local i = 0
local headers = {
  ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
}
local start, slots = nil, 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  i = math.random(#paths)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end

if rate > 0 then
  -- Called before each request: how many milliseconds to wait until its slot is due.
  function delay()
    local now = now_ms()
    start = start or now
    slots = slots + 1
    local wait = start + slots * 1000 / rate - now
    if wait < 0 then return 0 end
    return wait
  end
end

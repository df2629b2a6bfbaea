-- wrk script for bench/tracking.sh: GETs the tracking link paths of $LINKS (one per line),
-- every thread from its own random start, with a browser's User-Agent. KIND=o or c picks opens
-- or clicks.
local kind = "/t/" .. (os.getenv("KIND") or "o") .. "/"
local paths = {}
for line in io.lines(os.getenv("LINKS")) do
  if line:sub(1, #kind) == kind then paths[#paths + 1] = line end
end
local i = 0
local headers = {
  ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
}

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  i = math.random(#paths)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end

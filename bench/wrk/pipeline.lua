-- wrk script for the pipelined scenario, the way TechEmpower does it: every write carries DEPTH
-- requests (default 16; `wrk ... -s pipeline.lua URL -- 16`), and wrk counts each response.
-- done() is the same JSON line as in report.lua.
local req

init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end

-- Percentiles are computed here from wrk's raw histogram (latency(i) -> value, count) rather than
-- with latency:percentile(), which returns 0 when pipelining: wrk records one latency sample per
-- pipelined batch but ranks percentiles against the request count.
local function pct(latency, p)
  local total = 0
  for i = 1, #latency do
    local _, n = latency(i)
    total = total + n
  end
  if total == 0 then return 0 end
  local rank = math.ceil(total * p / 100)
  local seen = 0
  for i = 1, #latency do
    local v, n = latency(i)
    seen = seen + n
    if seen >= rank then return v end
  end
  return latency.max
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.2f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    pct(latency, 50), pct(latency, 99), latency.mean, latency.max))
end

-- wrk script used by bench/http.ts for the non-pipelined scenarios. It only adds a done() hook
-- that prints the exact figures as one JSON line (wrk's text output rounds latencies to 2-3
-- digits). Defining no request()/response() keeps wrk on its fast static-request path.
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

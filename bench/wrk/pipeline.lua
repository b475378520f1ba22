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

-- done(): the same JSON line as report.lua, whose histogram percentiles work when pipelining.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
